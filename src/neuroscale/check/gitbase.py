"""The repository as it was at `--base`, read through the gitops package, and the URLs it is fetched by.

`GitRepo` drives git plumbing on a git directory, so it reads a normal
checkout's `.git` as well as the platform's bare repository. Paths come back
relative to the checked directory, so head and base line up even when the
check runs on a subdirectory of the repository. The checkout's remotes tell
which Argo CD sources name this repository (see `lints.argo`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from neuroscale.errors import ToolError
from neuroscale.gitops.repo import GitRepo

_REF_FORMS = ("{ref}", "refs/remotes/{ref}", "refs/tags/{ref}")


def find_git_dir(path: Path) -> tuple[Path, Path]:
    """(git directory, work-tree root) of the repository containing `path`."""
    current = path.resolve()
    for candidate in (current, *current.parents):
        dot_git = candidate / ".git"
        if dot_git.is_dir():
            return dot_git, candidate
        if dot_git.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = dot_git.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return (target if target.is_absolute() else candidate / target).resolve(), candidate
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate, candidate  # a bare repository
    raise ToolError(f"{path} is not inside a git repository, so --base cannot be read", where="--base",
                    fix="run the check inside a git checkout, or drop --base")


def read_base(path: Path, base: str) -> tuple[str, dict[str, bytes]]:
    """(commit sha, files under `path` at `base`, keyed relative to `path`)."""
    git_dir, root = find_git_dir(path)
    repo = GitRepo(git_dir)
    sha = next((s for form in _REF_FORMS if (s := repo.resolve(form.format(ref=base)))), None)
    if sha is None:
        raise ToolError(f"base {base!r} is not a branch, remote branch, tag or full commit sha here",
                        where="--base", fix="fetch it first (`git fetch origin main`) or pass a full sha")
    prefix = path.resolve().relative_to(root).as_posix()
    prefix = "" if prefix == "." else f"{prefix}/"
    files = repo.read_files(sha, prefix.rstrip("/"))
    return sha, {p[len(prefix):]: data for p, data in files.items() if p.startswith(prefix)}


def remote_urls(path: Path) -> tuple[str, ...]:
    """The fetch URLs of every remote of the git checkout holding `path` (none outside a checkout, or without
    git): the addresses an Argo CD Application may name this repository by."""
    try:
        done = subprocess.run(["git", "-C", str(path), "config", "--get-regexp", r"^remote\..*\.url$"],
                              capture_output=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    lines = done.stdout.decode("utf-8", errors="replace").splitlines() if done.returncode == 0 else []
    return tuple(value for line in lines if (value := line.partition(" ")[2].strip()))
