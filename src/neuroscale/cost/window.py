"""OpenCost's `window` and `step` query parameters, read the way OpenCost reads them.

A window is a duration back from now (`30m`, `24h`, `7d`), a word (`today`,
`yesterday`, `week`, `lastweek`, `month`, `lastmonth`), or a pair of RFC 3339
times or unix seconds separated by a comma. Words are in UTC, as OpenCost's
defaults are. Pure: the caller passes "now".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from neuroscale.errors import InvalidInput

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
WINDOW_HINT = ("use a duration back from now (30m, 24h, 7d), today, yesterday, week, lastweek, month, lastmonth, "
               "or two RFC 3339 times or unix seconds separated by a comma")


@dataclass(frozen=True)
class Window:
    start: float  # epoch seconds, inclusive
    end: float  # exclusive

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def split(self, step: float | None) -> list[Window]:
        """Consecutive windows of `step` seconds covering this one (the last may be shorter)."""
        if not step or step >= self.seconds:
            return [self]
        out, at = [], self.start
        while at < self.end:
            out.append(Window(at, min(at + step, self.end)))
            at += step
        return out


def parse_duration(text: str, *, where: str) -> float:
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise InvalidInput(f"{text!r} is not a duration", where=where, fix="write e.g. 10m, 1h, 1d or 1w")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _moment(text: str, *, where: str) -> float:
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{text!r} is neither an RFC 3339 time nor unix seconds", where=where,
                           fix=WINDOW_HINT) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _word(word: str, now: datetime) -> tuple[datetime, datetime] | None:
    today = _midnight(now)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    previous_month = (month - timedelta(days=1)).replace(day=1)
    return {
        "today": (today, now),
        "yesterday": (today - timedelta(days=1), today),
        "week": (week, now),
        "lastweek": (week - timedelta(days=7), week),
        "month": (month, now),
        "lastmonth": (previous_month, month),
    }.get(word)


def parse_window(text: str, *, now: float, where: str = "window") -> Window:
    raw = text.strip().lower()
    if not raw:
        raise InvalidInput("window is empty", where=where, fix=WINDOW_HINT)
    if "," in raw:
        first, _, second = raw.partition(",")
        start, end = _moment(first, where=where), _moment(second, where=where)
    elif (span := _word(raw, datetime.fromtimestamp(now, tz=timezone.utc))) is not None:
        start, end = span[0].timestamp(), span[1].timestamp()
    elif _DURATION.match(raw):
        end = now
        start = now - parse_duration(raw, where=where)
    else:
        raise InvalidInput(f"cannot read window {text!r}", where=where, fix=WINDOW_HINT)
    if end <= start:
        raise InvalidInput(f"window {text!r} ends before it starts", where=where, fix=WINDOW_HINT)
    return Window(start, end)
