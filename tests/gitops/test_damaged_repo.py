"""A damaged repository is damage, not absence: `resolve` raises with git's words instead of answering None.

Answering None made the reconciler report "no main branch" with the fix "create the platform with
`neuroscale up`" for a main that names a lost commit or a garbled HEAD, and made `init_bare` try to
write a fresh main over the history.
"""

from __future__ import annotations

import pytest

from neuroscale.errors import GitError
from neuroscale.gitops.repo import MAIN, GitRepo
from tests.gitops.conftest import ALICE, SEED

MISSING = "1234567890123456789012345678901234567890"


def test_a_missing_branch_is_still_none(repo: GitRepo) -> None:
    assert repo.resolve("nope") is None
    assert repo.resolve(MISSING) is None  # a sha the repository lacks is not a damaged ref


def test_main_naming_a_missing_commit_raises(repo: GitRepo) -> None:
    (repo.path / "refs" / "heads" / MAIN).write_text(MISSING + "\n")
    with pytest.raises(GitError) as raised:
        repo.resolve(MAIN)
    assert f"refs/heads/main points to {MISSING}, a commit the GitOps repository does not have" in raised.value.message
    assert "update-ref refs/heads/main" in raised.value.fix
    with pytest.raises(GitError):
        GitRepo.init_bare(repo.path, files=SEED, author=ALICE, message="init")  # never a fresh main over it
    assert (repo.path / "refs" / "heads" / MAIN).read_text().strip() == MISSING


def test_a_garbled_head_raises(repo: GitRepo) -> None:
    (repo.path / "HEAD").write_text("garbage\n")
    with pytest.raises(GitError) as raised:
        repo.resolve(MAIN)
    assert "not a git repository" in raised.value.message and "ref: refs/heads/main" in raised.value.fix
