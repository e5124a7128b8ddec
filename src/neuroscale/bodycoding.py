"""Request bodies sent with `Content-Encoding`: decoded once, the same way, by the gateway and the model server.

Clients compress request bodies: tritonclient's `request_compression_algorithm="gzip"` or
`"deflate"`, aiohttp's `compress=`, curl with a hand-set header. Both servers used to pass such a
body to the JSON reader as it came, so the client heard "malformed JSON: not valid UTF-8" about a
request Triton and KServe's own server accept, and a coding nobody decodes (`br`) was not refused.

The limit a client meets is the decoded size (`--max-body-bytes`, README "HTTP limits"): a small
compressed body that expands past it (a decompression bomb) is refused after at most the limit
plus one byte of output, never inflated whole. A coding other than gzip or deflate is 415 naming
the ones we take (RFC 9110 section 15.5.16); a corrupt or truncated stream is the client's mistake.
"""

from __future__ import annotations

import zlib

from neuroscale.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

#: The codings both servers decode, as zlib window settings: gzip's own framing, and deflate's
#: zlib wrapper (RFC 9110 section 8.4.1.2), or the raw deflate stream some clients send instead.
_GZIP = 16 + zlib.MAX_WBITS
_WINDOWS: dict[bytes, tuple[int, ...]] = {b"gzip": (_GZIP,), b"x-gzip": (_GZIP,),
                                          b"deflate": (zlib.MAX_WBITS, -zlib.MAX_WBITS)}
ACCEPTED = "gzip, deflate"


def decoded_body(body: bytes, content_encoding: bytes, *, max_bytes: int) -> bytes:
    """`body` with the codings listed in its `Content-Encoding` undone, last applied first."""
    if not body:
        return body
    for coding in reversed(content_encoding.lower().split(b",")):
        coding = coding.strip()
        if coding in (b"", b"identity"):
            continue
        windows = _WINDOWS.get(coding)
        if windows is None:
            raise UnsupportedMediaType(
                f"request body coding {coding.decode('latin-1')!r} is not supported", where="Content-Encoding",
                fix=f"send the body uncompressed or with Content-Encoding {ACCEPTED}")
        body = _inflated(body, windows, coding=coding.decode("latin-1"), max_bytes=max_bytes)
    return body


def _inflated(data: bytes, windows: tuple[int, ...], *, coding: str, max_bytes: int) -> bytes:
    problem = ""
    for window in windows:
        try:
            return _inflate(data, window, coding=coding, max_bytes=max_bytes)
        except zlib.error as exc:
            problem = str(exc)
    raise InvalidInput(f"the {coding} request body does not decode: {problem}", where="request body",
                       fix=f"compress the whole body with {coding}, or send it uncompressed")


def _inflate(data: bytes, window: int, *, coding: str, max_bytes: int) -> bytes:
    """One stream, or several gzip members one after another (RFC 1952 allows it), at most `max_bytes` out."""
    parts: list[bytes] = []
    size = 0
    while data:
        decoder = zlib.decompressobj(window)
        part = decoder.decompress(data, max_bytes + 1 - size)
        size += len(part)
        if size > max_bytes or decoder.unconsumed_tail:
            raise PayloadTooLarge(
                f"the {coding} request body decodes to more than the limit of {max_bytes} bytes",
                where="request body", fix="send fewer rows per request (the limit counts decoded bytes)")
        if not decoder.eof:
            raise InvalidInput(f"the {coding} request body is truncated", where="request body",
                               fix=f"send the whole {coding} stream")
        parts.append(part)
        data = decoder.unused_data
        if window != _GZIP and data:
            raise zlib.error(f"{len(data)} bytes follow the end of the stream")
    return b"".join(parts)
