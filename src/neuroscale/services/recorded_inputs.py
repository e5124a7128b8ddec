"""Recorded requests in a prediction diff: the check keeps references, the inputs are shown at view time.

A recording (`gateway.recorder`) is live user traffic and can hold personal data, while a check result
is stored with the pull request and read by anyone who may read pull requests. So a changed prediction
from a recorded request keeps only a reference: its line in the recording when checked and a keyed
fingerprint of its body (HMAC-SHA256 under a key kept in the home, so nobody can confirm a guessed input
by hashing it). When a pull request is shown, each reference is looked up in the recording as it is now:
those who may read recorded requests (`Permission.read_recorded`: admins, as only the home's owner can
read the recording's file) see the input, others see that it is withheld, and once retention or the
caps dropped the request it is gone for everyone. A committed sample is in the repository already and
is shown as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from neuroscale.atomic_file import replace_file
from neuroscale.gitops.provider import PullRequest
from neuroscale.home import Home, recording_file
from neuroscale.identity.roles import Actor, Permission
from neuroscale.services.samples import read_sample

REFERENCE = "recorded"  # the finding's `extra` key holding the fingerprint
WITHHELD = "its input is shown only to admins: recorded requests can hold personal data"
GONE = "no longer recorded: retention or the recording's caps dropped it"
_SHOWN = 600


def recording_of(home: Home, endpoint: str) -> Path:
    return recording_file(home.samples_dir, endpoint)


def fingerprint_key(home: Home) -> bytes:
    """The home's fingerprint key, made on first use (owner-only, never replaced once written)."""
    path = home.run_dir / "recorded-fingerprint.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    staged = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    replace_file(staged, secrets.token_bytes(32), private=True)
    try:
        os.link(staged, path)  # fails if another process made it first: theirs is kept
    except FileExistsError:
        pass
    finally:
        staged.unlink()
    return path.read_bytes()


def fingerprint(key: bytes, body: Any) -> str:
    """A request body's keyed fingerprint (canonical JSON: key order and spacing do not change it)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()[:16]


def _recorded_now(home: Home, endpoint: str) -> dict[str, Any]:
    """The endpoint's recording as it is now, by fingerprint (empty when nothing is recorded)."""
    try:
        data = recording_of(home, endpoint).read_bytes()
    except OSError:
        return {}
    key = fingerprint_key(home)
    return {fingerprint(key, request.body): request.body for request in read_sample(data, where="")[0]}


def _shown(finding: dict[str, Any], recorded: dict[str, Any] | None) -> dict[str, Any]:
    """The finding as this reader sees it: with the input, withheld (`recorded` None), or gone."""
    fingerprint_ = finding.get("extra", {}).get(REFERENCE)
    if fingerprint_ is None:
        return finding
    if recorded is None:
        told = f"{finding['message']} ({WITHHELD})"
    elif fingerprint_ in recorded:
        told = f"{finding['message']}: {recorded[fingerprint_]!r}"[:_SHOWN]
    else:
        told = f"{finding['message']} ({GONE})"
    return {**finding, "message": told}


def with_recorded_inputs(home: Home, pr: PullRequest, *, actor: Actor) -> PullRequest:
    """The pull request as `actor` may read it: each recorded reference resolved in the recording as it is now."""
    referenced = [c for c in pr.checks if any(REFERENCE in f.get("extra", {}) for f in c.findings)]
    if not referenced:
        return pr
    recorded = _recorded_now(home, pr.endpoint) if actor.can(Permission.read_recorded) else None
    checks = tuple(replace(c, findings=[_shown(f, recorded) for f in c.findings]) if c in referenced else c
                   for c in pr.checks)
    return replace(pr, checks=checks)

