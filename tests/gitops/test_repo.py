"""GitRepo over a real bare repository: commits, reads, compare-and-swap, merges, plain git users."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.errors import Conflict, GitError, InvalidInput, NotFound
from neuroscale.gitops.repo import MAIN, Author, GitRepo

from .conftest import ALICE, SEED, git


def test_init_bare_is_idempotent(repo: GitRepo) -> None:
    first = repo.resolve(MAIN)
    again = GitRepo.init_bare(repo.path, files={"other": b"x"}, author=ALICE, message="again")
    assert first is not None and again.resolve(MAIN) == first
    assert repo.read_files(MAIN) == SEED
    assert repo.branches() == [MAIN]


def test_resolve_unknown_is_none(repo: GitRepo) -> None:
    assert repo.resolve("nope") is None
    assert repo.resolve("0" * 40) is None
    main = repo.resolve(MAIN)
    assert main is not None and repo.resolve(main) == main and repo.resolve("refs/heads/main") == main


def test_commit_new_branch_then_update_and_delete(repo: GitRepo) -> None:
    base = repo.resolve(MAIN)
    first = repo.commit(branch="endpoint/a", files={"apps/a/x.yaml": b"one\n"}, message="add", author=ALICE)
    assert repo.parents(first) == [base]
    assert repo.read_files("endpoint/a", "apps/a/") == {"apps/a/x.yaml": b"one\n"}
    assert repo.resolve(MAIN) == base, "main must not move"

    second = repo.commit(branch="endpoint/a", files={"apps/a/x.yaml": b"two\n", "apps/a/y.yaml": b"y"},
                         message="change", author=ALICE)
    assert repo.parents(second) == [first]
    assert repo.changed_paths(base, second) == ["apps/a/x.yaml", "apps/a/y.yaml"]

    third = repo.commit(branch="endpoint/a", files={"apps/a/x.yaml": None}, message="rm", author=ALICE)
    assert repo.read_files(third, "apps/") == {"apps/.gitkeep": b"", "apps/a/y.yaml": b"y"}
    assert repo.changed_paths(second, third) == ["apps/a/x.yaml"]


def test_unchanged_tree_adds_no_commit(repo: GitRepo) -> None:
    sha = repo.commit(branch="b", files={"f": b"same"}, message="m", author=ALICE)
    assert repo.commit(branch="b", files={"f": b"same"}, message="m2", author=ALICE) == sha


def test_commit_records_author(repo: GitRepo) -> None:
    sha = repo.commit(branch="b", files={"f": b"x"}, message="hello", author=Author("Zoë", "zoe@example.com"))
    assert git("log", "-1", "--format=%an <%ae>|%s", sha, cwd=repo.path) == "Zoë <zoe@example.com>|hello"


def test_binary_and_many_files_round_trip(repo: GitRepo) -> None:
    files = {f"apps/n{i}/f.bin": bytes(range(256)) * i for i in range(1, 6)}
    repo.commit(branch="b", files=dict(files), message="m", author=ALICE)
    assert repo.read_files("b", "apps/n") == files


@pytest.mark.parametrize("path", ["../x", "/abs", "apps/../x", ".git/config", "apps//x", ""])
def test_commit_rejects_bad_paths(repo: GitRepo, path: str) -> None:
    with pytest.raises(InvalidInput):
        repo.commit(branch="b", files={path: b"x"}, message="m", author=ALICE)
    assert repo.branches() == [MAIN]


def test_commit_from_unknown_start_is_not_found(repo: GitRepo) -> None:
    with pytest.raises(NotFound):
        repo.commit(branch="b", files={"f": b"x"}, message="m", author=ALICE, start_from="missing")
    assert repo.branches() == [MAIN]


def test_restore_branch_is_compare_and_swap(repo: GitRepo) -> None:
    first = repo.commit(branch="b", files={"f": b"1"}, message="m", author=ALICE)
    second = repo.commit(branch="b", files={"f": b"2"}, message="m", author=ALICE)
    assert not repo.restore_branch("b", to=None, expected=first), "stale expectation must not delete"
    assert repo.resolve("b") == second
    assert repo.restore_branch("b", to=first, expected=second)
    assert repo.resolve("b") == first
    assert repo.restore_branch("b", to=None, expected=first)
    assert "b" not in repo.branches()


def test_delete_branch(repo: GitRepo) -> None:
    repo.commit(branch="endpoint/x", files={"f": b"1"}, message="m", author=ALICE)
    repo.delete_branch("endpoint/x")
    repo.delete_branch("endpoint/x")  # idempotent
    assert repo.branches() == [MAIN]
    with pytest.raises(InvalidInput):
        repo.delete_branch(MAIN)


def test_merge_makes_a_merge_commit(repo: GitRepo) -> None:
    base = repo.resolve(MAIN)
    head = repo.commit(branch="feature", files={"apps/a/f.yaml": b"a"}, message="m", author=ALICE)
    merged = repo.merge(source="feature", message="Merge feature", author=ALICE)
    assert repo.resolve(MAIN) == merged
    assert repo.parents(merged) == [base, head]
    assert repo.read_files(MAIN, "apps/a/") == {"apps/a/f.yaml": b"a"}
    assert repo.merge(source=head, message="again", author=ALICE) == merged, "already merged: no new commit"


def test_merge_after_main_moved_without_overlap(repo: GitRepo) -> None:
    repo.commit(branch="feature", files={"apps/a/f.yaml": b"a"}, message="m", author=ALICE)
    repo.commit(branch=MAIN, files={"apps/b/f.yaml": b"b"}, message="direct", author=ALICE)
    repo.merge(source="feature", message="merge", author=ALICE)
    assert set(repo.read_files(MAIN, "apps/")) == {"apps/.gitkeep", "apps/a/f.yaml", "apps/b/f.yaml"}


def test_merge_conflict_names_paths_and_leaves_main(repo: GitRepo) -> None:
    repo.commit(branch="feature", files={"apps/a/f.yaml": b"ours"}, message="m", author=ALICE)
    moved = repo.commit(branch=MAIN, files={"apps/a/f.yaml": b"theirs"}, message="direct", author=ALICE)
    with pytest.raises(Conflict) as caught:
        repo.merge(source="feature", message="merge", author=ALICE)
    assert "apps/a/f.yaml" in caught.value.message and caught.value.fix
    assert repo.resolve(MAIN) == moved


def test_git_errors_are_summarised(tmp_path: Path) -> None:
    broken = GitRepo(tmp_path / "missing.git")
    with pytest.raises(GitError) as caught:
        broken.branches()
    assert "not a git repository" in caught.value.message
    assert "Traceback" not in str(caught.value)


def test_plain_git_clone_commit_push_to_main(repo: GitRepo, tmp_path: Path) -> None:
    """Users may bypass pull requests and push straight to main, as in real GitOps."""
    work = tmp_path / "clone"
    git("clone", "--quiet", str(repo.path), str(work), cwd=tmp_path)
    (work / "apps" / "direct").mkdir()
    (work / "apps" / "direct" / "inference-service.yaml").write_text("kind: X\n")
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "direct push", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    assert repo.read_files(MAIN, "apps/direct/") == {"apps/direct/inference-service.yaml": b"kind: X\n"}
    assert repo.resolve(MAIN) == git("rev-parse", "HEAD", cwd=work)

    # and a platform commit on a branch is visible to the clone
    repo.commit(branch="endpoint/z", files={"apps/z/f.yaml": b"z"}, message="m", author=ALICE)
    git("fetch", "--quiet", "origin", cwd=work)
    assert git("show", "origin/endpoint/z:apps/z/f.yaml", cwd=work) == "z"
