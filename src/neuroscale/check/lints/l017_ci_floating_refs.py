"""NS-L017: floating references in CI workflows (FM-42).

The gate itself must not change under you. An action referenced by tag or
branch (`actions/checkout@v4`) runs whatever that ref points to today — a
moved tag is how a compromised action reaches every repository that trusts
it; a `:latest` job container, an unpinned `pip install`/`npm install` and a
`curl … | sh` do the same for tools, and so does a package installed from a
repository's default branch (`pip install git+https://…/repo.git`). Pinned
references (a 40-hex commit SHA, a digest, `==` versions, a VCS `@ref`,
`npm ci`) do not move. Local actions (`./…`) are the repository's own code and
are fine.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from neuroscale.check.lints.base import Lint
from neuroscale.check.lints.images import parse_reference
from neuroscale.check.lints.workflows import jobs, steps, workflows
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L017"
_SHA = re.compile(r"^[0-9a-f]{40}$")
#: A package installed from version control (`git+https://host/repo.git@ref`): pinned only by a ref.
_VCS = re.compile(r"^(?:git|hg|svn|bzr)\+[a-z]+://")
_PIPE_TO_SHELL = re.compile(r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b")
_COMMAND_SEP = re.compile(r"&&|\|\||;|\n|\|")
#: Installer bootstrap packages everyone upgrades unpinned; pinning them buys little.
_BOOTSTRAP = frozenset({"pip", "setuptools", "wheel"})
_PIN_FIX = "pin it (a full commit SHA for actions, a digest or version tag for images, `==` / `@x.y.z` for packages)"


def _action_problem(uses: str) -> str:
    if uses.startswith(("./", "../")):
        return ""
    if uses.startswith("docker://"):
        return _image_problem(uses.removeprefix("docker://"))
    ref = uses.partition("@")[2]
    if not ref:
        return f"action {uses} has no ref: it runs the default branch"
    return "" if _SHA.match(ref) else f"action {uses} is pinned to {ref!r}, a tag or branch that can move"


def _image_problem(image: str) -> str:
    reference = parse_reference(image)
    if reference.digest or (reference.tag and reference.tag != "latest"):
        return ""
    return f"container image {image} floats ({'untagged' if not reference.tag else ':latest'})"


def _containers(job: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(needle, image) of a job's container and service containers."""
    container = job.get("container")
    image = container.get("image") if isinstance(container, dict) else container
    if isinstance(image, str):
        yield image, image
    services = job.get("services")
    for service in services.values() if isinstance(services, dict) else []:
        image = service.get("image") if isinstance(service, dict) else None
        if isinstance(image, str):
            yield image, image


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split()


def _unpinned_packages(words: list[str]) -> list[str]:
    """Package arguments of an install command that name no exact version."""
    found = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word in ("-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
                    "--extra-index-url", "-t", "--target", "--prefix", "--registry"):
            skip_next = True
            continue
        if _VCS.match(word):
            if "@" not in urlsplit(word.partition("+")[2]).path:  # `git+https://host/repo.git` is its default branch
                found.append(word)
            continue
        if word.startswith("-") or word.startswith((".", "/", "~")) or "://" in word or word.endswith(
                (".whl", ".tar.gz", ".tgz", ".txt")):
            continue
        bare = re.split(r"[\[<>=!~@]", word, maxsplit=1)[0].lower()
        pinned = "==" in word or (("@" in word[1:]) and re.search(r"@\d", word) is not None)
        if bare and bare not in _BOOTSTRAP and not pinned:
            found.append(word)
    return found


def _script_problems(script: str) -> Iterator[tuple[str, str]]:
    """(needle, message) for unpinned installs and remote scripts piped into a shell."""
    if _PIPE_TO_SHELL.search(script):
        yield "| ", "pipes a downloaded script into a shell: it runs whatever the URL serves today"
    for command in _COMMAND_SEP.split(script):
        words = _words(command.strip())
        if words[:1] == ["sudo"]:
            words = words[1:]
        pip = (words[:1] in (["pip"], ["pip3"]) or words[:2] == ["uv", "pip"]
               or (words[:1] in (["python"], ["python3"]) and words[1:3] == ["-m", "pip"]))
        if pip and "install" in words:
            tail = words[words.index("install") + 1:]
            for package in _unpinned_packages(tail):
                yield package, f"installs {package} unpinned (`pip install {package}` takes whatever is newest)"
        elif words[:1] in (["npm"], ["pnpm"], ["yarn"]) and len(words) >= 2 and words[1] in ("install", "i", "add"):
            packages = [w for w in words[2:] if not w.startswith("-")]
            if not packages and words[0] == "npm":
                yield "npm install", "runs `npm install`, which may update the lockfile: use `npm ci`"
            for package in packages:
                if not re.search(r".@\d", package):
                    yield package, f"installs {package} unpinned"
        elif words[:2] == ["go", "install"] and any(w.endswith("@latest") for w in words):
            yield "@latest", "runs `go install …@latest`"


def check(view: RepoView) -> list[Finding]:
    findings = []
    for doc in workflows(view):
        for job_id, job in jobs(doc):
            uses = job.get("uses")  # a reusable workflow
            problem = _action_problem(uses) if isinstance(uses, str) else ""
            if problem:
                findings.append(view.finding(doc, rule=ID, severity=Severity.WARNING, needle=str(uses),
                                             field_path=f"jobs.{job_id}.uses", message=problem, fix=_PIN_FIX))
            for needle, image in _containers(job):
                problem = _image_problem(image)
                if problem:
                    findings.append(view.finding(doc, rule=ID, severity=Severity.WARNING, needle=needle,
                                                 field_path=f"jobs.{job_id}", message=problem, fix=_PIN_FIX))
        for step in steps(doc):
            uses = step.data.get("uses")
            problem = _action_problem(uses) if isinstance(uses, str) else ""
            if problem:
                findings.append(view.finding(doc, rule=ID, severity=Severity.WARNING, needle=str(uses),
                                             field_path=f"jobs.{step.job}", message=f"{step.label}: {problem}",
                                             fix=_PIN_FIX))
            for needle, message in _script_problems(step.script):
                findings.append(view.finding(doc, rule=ID, severity=Severity.WARNING, needle=needle,
                                             field_path=f"jobs.{step.job}", message=f"{step.label}: {message}",
                                             fix=_PIN_FIX + "; download scripts to a file and verify a checksum "
                                                            "before running them"))
    return findings


LINT = Lint(id=ID, title="Floating references in CI workflows", failure_modes=("FM-42",),
            severity=Severity.WARNING, check=check)
