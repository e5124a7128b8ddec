"""Roles and what they permit: one table, read by every use case.

Why a ladder and not per-user grants: a platform team needs four answers
(may read, may propose, may review, may administer), and a ladder makes
"at least approver" a comparison instead of a lookup that can drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from neuroscale.errors import Forbidden, InvalidInput

#: User names: short, lowercase, safe in URLs, commit authors and log lines.
USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,62}$")


class Role(StrEnum):
    viewer = "viewer"
    author = "author"
    approver = "approver"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Permission(StrEnum):
    read = "read"  # pages, pull requests, endpoints, events
    propose = "propose"  # create, update or delete endpoints (opens a pull request); close own pull requests
    review = "review"  # approve others' pull requests, merge or close any pull request
    administer = "administer"  # users, tokens and review rules
    read_recorded = "read-recorded"  # the inputs of recorded requests (live user traffic) a prediction diff refers to


#: The lowest role that holds each permission.
LOWEST_ROLE: dict[Permission, Role] = {
    Permission.read: Role.viewer,
    Permission.propose: Role.author,
    Permission.review: Role.approver,
    Permission.administer: Role.admin,
    Permission.read_recorded: Role.admin,  # as on disk, where only the home's owner reads the recording
}


def roles_with(permission: Permission) -> tuple[Role, ...]:
    """Every role that holds `permission` (the ladder from its lowest role up)."""
    return tuple(role for role in Role if role.rank >= LOWEST_ROLE[permission].rank)


def parse_role(text: str, *, where: str = "role") -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InvalidInput(f"unknown role {text!r}", where=where,
                           fix=f"use one of {', '.join(r.value for r in Role)}") from None


def validate_user_name(name: str, *, where: str = "name") -> str:
    if not USER_NAME.match(name):
        raise InvalidInput(f"{name[:70]!r} is not a valid user name", where=where,
                           fix="use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter")
    return name


@dataclass(frozen=True)
class Actor:
    """An authenticated user as the use cases see them."""

    name: str
    role: Role
    email: str = ""

    def can(self, permission: Permission) -> bool:
        return self.role.rank >= LOWEST_ROLE[permission].rank

    def require(self, permission: Permission, *, to: str) -> None:
        """Raise `Forbidden` naming what was refused and which role would allow it."""
        if not self.can(permission):
            needed = LOWEST_ROLE[permission]
            raise Forbidden(f"{self.name} ({self.role}) may not {to}", where="role",
                            fix=f"ask an admin for the {needed} role (`neuroscale user add NAME --role {needed}`)")
