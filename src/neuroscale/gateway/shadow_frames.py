"""The records the gateway hands its shadow worker over a pipe: length-framed bytes, never re-parsed JSON.
The worker reads them in C (`_shadowjoin.runs`, same layout).

A copy is the endpoint, the shadow revision, the upstream head and body, the primary's answer body and
its latency; a tally is a number of copies of an endpoint the gateway skipped itself (the worker was down
or its pipe full), so the worker's counts, which it publishes, include them. Every field is length-framed:
a body carries any bytes it likes, and nothing in it can move the next record's boundary.
"""

from __future__ import annotations

import struct
COPY, TALLY = 0, 1
# kind, endpoint and revision lengths, head, body and primary lengths, primary ms (COPY) or count (TALLY)
_HEADER = struct.Struct("<BHHIIId")
HEADER_BYTES = _HEADER.size


def copy_record(endpoint: bytes, revision: bytes, head: bytes, body: bytes, primary: bytes,
                primary_ms: float) -> bytes:
    return b"".join((_HEADER.pack(COPY, len(endpoint), len(revision), len(head), len(body), len(primary),
                                  primary_ms), endpoint, revision, head, body, primary))


def tally_record(endpoint: bytes, revision: bytes, skipped: int) -> bytes:
    return b"".join((_HEADER.pack(TALLY, len(endpoint), len(revision), 0, 0, 0, skipped), endpoint, revision))


def copy_at(data: bytes, at: int) -> tuple[bytes, bytes, float, int]:
    """The body, primary answer and primary latency of the copy record at `at`, and where the next record starts.
    Runs of records are found by `_shadowjoin.runs`; this reads one of them."""
    _, endpoint, revision, head, body, primary, primary_ms = _HEADER.unpack_from(data, at)
    start = at + HEADER_BYTES + endpoint + revision + head
    return data[start:start + body], data[start + body:start + body + primary], primary_ms, start + body + primary
