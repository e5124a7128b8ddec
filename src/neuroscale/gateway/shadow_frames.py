"""The records the gateway hands its shadow worker over a pipe: length-framed bytes, never re-parsed JSON.

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


Record = tuple[int, str, str, bytes, bytes, bytes, float]  # kind, endpoint, revision, head, body, primary, number


def records(data: bytes) -> tuple[list[Record], bytes]:
    """The complete records at the front of `data`, and the bytes after them (a partial record, or nothing)."""
    found: list[Record] = []
    unpack, size, at, end = _HEADER.unpack_from, HEADER_BYTES, 0, len(data)
    while end - at >= size:
        kind, endpoint, revision, head, body, primary, number = unpack(data, at)
        a = at + size
        b = a + endpoint
        c = b + revision
        d = c + head
        e = d + body
        f = e + primary
        if f > end:
            break
        found.append((kind, data[a:b].decode(), data[b:c].decode(), data[c:d], data[d:e], data[e:f], number))
        at = f
    return found, data[at:]
