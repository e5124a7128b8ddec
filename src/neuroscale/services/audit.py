"""The audit trail: every change a person makes is an event naming them.

Why in the events table: `neuroscale events`, the portal's events page and a
support bundle already read it, so who opened, approved, merged or closed a
pull request, and who added or removed a user, shows up next to what the
reconciler did about it.
"""

from __future__ import annotations

import time

from neuroscale.engine.clock import iso
from neuroscale.identity.roles import Actor
from neuroscale.services.context import PlatformContext
from neuroscale.status.model import Event, EventType
from neuroscale.status.reasons import Reason


def record(ctx: PlatformContext, *, actor: Actor, reason: Reason, message: str, endpoint: str = "") -> None:
    ctx.events.record_event(Event(iso(time.time()), endpoint, EventType.Normal, reason, message, actor=actor.name))
