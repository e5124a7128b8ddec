"""How every NeuroScale secret is made and how it is kept: one place, so none is weaker than another.

A secret is 256 random bits from `secrets`, URL-safe, behind a short prefix
that makes a leaked one recognisable (and redactable) as ours: personal
tokens (`nst_`), login links (`nsl_`), endpoint API keys (`nsk_`). Only its
SHA-256 is ever stored. SHA-256 rather than a slow password hash because no
person chose the secret: there is nothing to brute-force, and checking one
stays a single hash and lookup, cheap enough for the gateway's hot path.
No web framework, database or subprocess here: the gateway imports it.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The stored form of a secret (hex SHA-256 of its UTF-8 bytes)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
