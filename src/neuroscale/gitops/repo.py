"""`GitRepo`: a bare GitOps repository driven through git's plumbing commands.

Why plumbing and a bare repository: the platform never needs a work tree. A
commit is built from blobs and a throw-away index (`GIT_INDEX_FILE`), and a
branch moves only through `git update-ref <ref> <new> <old>`, an atomic
compare-and-swap, so the portal, the CLI and users pushing with plain git can
never overwrite each other's commits. Merges use `git merge-tree --write-tree`
(no work tree, real conflict detection). Every git failure becomes a
`GitError` carrying git's own message, never a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from neuroscale.errors import Conflict, GitError, InvalidInput, NotFound

MAIN = "main"
_ZERO = "0" * 40
_SHA = re.compile(r"^[0-9a-f]{40}$")
_CAS_ATTEMPTS = 3


@dataclass(frozen=True)
class Author:
    """Who a commit or pull request is attributed to."""

    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def _check_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        raise InvalidInput(f"{path!r} is not a repository path", where="commit",
                           fix="use a relative path such as apps/<name>/inference-service.yaml")
    return path


class GitRepo:
    """A bare repository on disk; every method is a handful of git plumbing calls."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- running git -------------------------------------------------------

    def _run(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None,
             ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[bytes]:
        full_env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", **(env or {})}
        try:
            done = subprocess.run(["git", "--git-dir", str(self.path), *args], input=stdin,
                                  capture_output=True, env=full_env, check=False)
        except FileNotFoundError:
            raise GitError("the `git` command is not installed", fix="install git 2.38 or newer") from None
        if done.returncode not in ok:
            raise GitError(f"git {args[0]} failed: {_summary(done.stderr)}", where=str(self.path),
                           fix="check that the GitOps repository exists and is not corrupted (`git fsck`)")
        return done

    def _git(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
        return self._run(*args, stdin=stdin, env=env).stdout.decode().strip()

    # -- creating ----------------------------------------------------------

    @classmethod
    def init_bare(cls, path: Path, *, files: Mapping[str, bytes], author: Author, message: str) -> GitRepo:
        """Create the bare repository with `main` holding `files`; an existing one is left as is."""
        repo = cls(path)
        if not (repo.path / "HEAD").exists():
            repo.path.mkdir(parents=True, exist_ok=True)
            repo._git("init", "--quiet", "--bare", f"--initial-branch={MAIN}", str(repo.path))
        if repo.resolve(MAIN) is None:
            tree = repo._tree(None, dict(files))
            sha = repo._commit_tree(tree, parents=(), message=message, author=author)
            repo._swap(MAIN, new=sha, old=None)
        return repo

    # -- reading -----------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """The commit sha `ref` (a branch name, `refs/...` or a sha) points to, or None when there is none.

        A branch that exists but names an object the repository lacks, or a repository git no longer
        recognises (a garbled HEAD), is damage, not absence: it raises, so nobody mistakes it for a missing
        branch and writes a fresh one over the history."""
        name = ref if ref.startswith("refs/") or _SHA.match(ref) else f"refs/heads/{ref}"
        done = self._run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", ok=(0, 1, 128))
        if done.returncode == 0:
            return done.stdout.decode().strip()
        if done.returncode == 128:
            raise GitError(f"the GitOps repository cannot be read: {_summary(done.stderr)}", where=str(self.path),
                           fix=f"check {self.path / 'HEAD'} (it must read `ref: refs/heads/{MAIN}`) and run "
                           f"`git --git-dir {self.path} fsck`")
        dangling = None if _SHA.match(ref) else self._run("rev-parse", "--verify", "--quiet", name, ok=(0, 1, 128))
        if dangling is not None and dangling.returncode == 0:
            raise GitError(f"{name} points to {dangling.stdout.decode().strip()}, a commit the GitOps repository "
                           "does not have", where=str(self.path),
                           fix=f"point it back at the last good commit: `git --git-dir {self.path} update-ref {name} "
                           "<sha>`, with the sha `neuroscale status` shows as main@… or one from any clone's `git "
                           "log` (or push that clone's branch again with `git push --force`)")
        return None

    def commit_of(self, revision: str) -> str | None:
        """The commit any git revision names (`origin/main`, `HEAD~1`, a tag, a sha), or None — for a
        checkout someone else made, where branch names are not all `refs/heads/`."""
        done = self._run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", ok=(0, 1, 128))
        return done.stdout.decode().strip() if done.returncode == 0 else None

    @classmethod
    def of_checkout(cls, root: Path) -> GitRepo | None:
        """The repository of a working tree (its git directory), or None when `root` is not in one."""
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--absolute-git-dir"], capture_output=True,
                              check=False)
        return cls(Path(done.stdout.decode().strip())) if done.returncode == 0 else None

    def _require(self, ref: str) -> str:
        sha = self.resolve(ref)
        if sha is None:
            raise NotFound(f"no branch or commit {ref!r} in the GitOps repository", where=str(self.path),
                           fix="list branches with `git ls-remote` on the repository")
        return sha

    def read_files(self, ref: str, prefix: str = "") -> dict[str, bytes]:
        """Every file whose path starts with `prefix` at `ref`, path -> content (two git calls)."""
        sha = self._require(ref)
        folder = prefix[:prefix.rfind("/") + 1]  # git matches whole path components; narrow, then filter
        listing = self._run("ls-tree", "-r", "-z", "--full-tree", sha, *(["--", folder] if folder else [])).stdout
        entries: list[tuple[str, str]] = []
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, raw_path = record.split(b"\t", 1)
            _mode, kind, blob = meta.decode().split()
            if kind == "blob" and raw_path.decode().startswith(prefix):
                entries.append((raw_path.decode(), blob))
        if not entries:
            return {}
        batch = self._run("cat-file", "--batch", stdin="".join(f"{b}\n" for _, b in entries).encode()).stdout
        files: dict[str, bytes] = {}
        offset = 0
        for path, _blob in entries:
            header_end = batch.index(b"\n", offset)
            size = int(batch[offset:header_end].split()[2])
            files[path] = batch[header_end + 1:header_end + 1 + size]
            offset = header_end + 1 + size + 1
        return files

    def changed_paths(self, base: str, head: str) -> list[str]:
        """Paths added, modified or deleted between two commits."""
        out = self._run("diff-tree", "-r", "-z", "--no-renames", "--name-only",
                        self._require(base), self._require(head)).stdout
        return sorted(p.decode() for p in out.split(b"\0") if p)

    def history(self, ref: str, path: str, *, limit: int = 200) -> list[str]:
        """Commits reachable from `ref` that changed `path`, newest first (at most `limit`)."""
        if self.resolve(ref) is None:
            return []
        out = self._git("rev-list", f"--max-count={limit}", self._require(ref), "--", path)
        return [line for line in out.splitlines() if line]

    def branches(self) -> list[str]:
        out = self._git("for-each-ref", "--format=%(refname)", "refs/heads/")
        return sorted(line.removeprefix("refs/heads/") for line in out.splitlines() if line)

    def parents(self, sha: str) -> list[str]:
        return self._git("rev-list", "--parents", "-n", "1", sha).split()[1:]

    def merge_base(self, one: str, other: str) -> str | None:
        """The best common ancestor of two commits, None when their histories never meet."""
        done = self._run("merge-base", self._require(one), self._require(other), ok=(0, 1))
        return done.stdout.decode().strip() or None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        done = self._run("merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1))
        return done.returncode == 0

    # -- writing -----------------------------------------------------------

    def commit(self, *, branch: str, files: Mapping[str, bytes | None], message: str, author: Author,
               start_from: str = MAIN) -> str:
        """Commit `files` (None deletes a path) on top of `branch`, or of `start_from` for a new branch.

        The branch moves by compare-and-swap; if someone else moved it meanwhile the
        same changes are re-applied on their commit. Unchanged trees add no commit.
        """
        changes = {_check_path(path): content for path, content in files.items()}
        for _ in range(_CAS_ATTEMPTS):
            old = self.resolve(branch)
            parent = old or self._require(start_from)
            tree = self._tree(parent, changes)
            if old is not None and tree == self._git("rev-parse", f"{old}^{{tree}}"):
                return old
            sha = self._commit_tree(tree, parents=(parent,), message=message, author=author)
            if self._swap(branch, new=sha, old=old):
                return sha
        raise Conflict(f"branch {branch} kept moving while committing", where=str(self.path),
                       fix="retry in a moment")

    def merge(self, *, source: str, target: str = MAIN, message: str, author: Author) -> str:
        """Merge `source` into `target` with a merge commit; Conflict names conflicting paths."""
        for _ in range(_CAS_ATTEMPTS):
            theirs, ours = self._require(source), self._require(target)
            if self.is_ancestor(theirs, ours):
                return ours
            done = self._run("merge-tree", "--write-tree", "-z", "--name-only", "--no-messages",
                             ours, theirs, ok=(0, 1))
            fields = done.stdout.decode().split("\0")
            if done.returncode == 1:
                paths = sorted({p for p in fields[1:] if p})
                raise Conflict(f"{source} conflicts with {target} in {', '.join(paths)}", where=str(self.path),
                               details={"paths": paths},
                               fix=f"{target} changed the same files since the branch was made; "
                                   "close the pull request and propose the change again from the current main")
            sha = self._commit_tree(fields[0].strip(), parents=(ours, theirs), message=message, author=author)
            if self._swap(target, new=sha, old=ours):
                return sha
        raise Conflict(f"branch {target} kept moving while merging", where=str(self.path), fix="retry in a moment")

    def delete_branch(self, branch: str) -> None:
        """Delete `branch` if it exists; `main` is never deleted."""
        if branch == MAIN:
            raise InvalidInput("refusing to delete main", where=str(self.path), fix="delete feature branches only")
        old = self.resolve(branch)
        if old is not None:
            self.restore_branch(branch, to=None, expected=old)

    def restore_branch(self, branch: str, *, to: str | None, expected: str) -> bool:
        """Move `branch` back to `to` (None deletes it) only if it still points at `expected`.

        Used to undo a ref update when a later step of the same operation fails.
        """
        if to is None:
            return self._update_ref("-d", f"refs/heads/{branch}", expected)
        return self._swap(branch, new=to, old=expected)

    # -- plumbing helpers --------------------------------------------------

    def _tree(self, parent: str | None, changes: Mapping[str, bytes | None]) -> str:
        """Write the tree of `parent` with `changes` applied, through a temporary index."""
        with tempfile.TemporaryDirectory(prefix="neuroscale-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent is not None:
                self._run("read-tree", parent, env=env)
            lines = []
            for path, content in changes.items():
                if content is None:
                    lines.append(f"0 {_ZERO}\t{path}\n")
                else:
                    blob = self._git("hash-object", "-w", "--stdin", stdin=content)
                    lines.append(f"100644 {blob}\t{path}\n")
            if lines:
                self._run("update-index", "--index-info", stdin="".join(lines).encode(), env=env)
            return self._git("write-tree", env=env)

    def _commit_tree(self, tree: str, *, parents: Sequence[str], message: str, author: Author) -> str:
        identity = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
                    "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email}
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self._git(*args, stdin=message.encode(), env=identity)

    def _swap(self, branch: str, *, new: str, old: str | None) -> bool:
        """Atomic compare-and-swap of `refs/heads/<branch>`; False if it moved."""
        return self._update_ref(f"refs/heads/{branch}", new, old or _ZERO)

    def _update_ref(self, *args: str) -> bool:
        done = self._run("update-ref", *args, ok=(0, 1, 128))
        if done.returncode == 0:
            return True
        if b"cannot lock ref" in done.stderr:  # the ref moved, or another writer holds its lock
            return False
        raise GitError(f"git update-ref failed: {_summary(done.stderr)}", where=str(self.path),
                       fix="check that the GitOps repository exists and is writable")


def _summary(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return "; ".join(lines[-3:]) or "no message"
