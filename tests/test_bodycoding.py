"""Request body codings, table-driven: what decodes, and what is refused with which status."""

from __future__ import annotations

import gzip
import zlib

import pytest

from neuroscale.bodycoding import decoded_body
from neuroscale.errors import InvalidInput

BODY = b'{"instances": [[6.8, 2.8, 4.8, 1.4]]}'


@pytest.mark.parametrize(("coded", "coding"), [
    (gzip.compress(BODY), b"gzip"),
    (gzip.compress(BODY), b" GZIP "),
    (gzip.compress(BODY), b"x-gzip"),
    (zlib.compress(BODY), b"deflate"),
    (zlib.compress(BODY)[2:-4], b"deflate"),  # raw deflate, without the zlib wrapper
    (BODY, b"identity"),
    (gzip.compress(zlib.compress(BODY)), b"deflate, gzip"),  # listed in the order applied
    (gzip.compress(BODY[:10]) + gzip.compress(BODY[10:]), b"gzip"),  # two gzip members
], ids=["gzip", "case-and-space", "x-gzip", "zlib", "raw-deflate", "identity", "two-codings", "two-members"])
def test_decodes(coded: bytes, coding: bytes) -> None:
    assert decoded_body(coded, coding, max_bytes=1000) == BODY


@pytest.mark.parametrize(("coded", "coding", "status", "needle"), [
    (gzip.compress(BODY), b"gzip", 413, "more than the limit of 20 bytes"),
    (gzip.compress(b"\0" * 10_000_000), b"gzip", 413, "more than the limit"),
    (gzip.compress(BODY)[:-4], b"gzip", 422, "truncated"),
    (b"plain", b"gzip", 422, "does not decode"),
    (zlib.compress(BODY) + b"tail", b"deflate", 422, "does not decode"),
    (BODY, b"br", 415, "coding 'br' is not supported"),
    (BODY, b"gzip, zstd", 415, "coding 'zstd' is not supported"),
], ids=["over-limit", "bomb", "truncated", "not-gzip", "deflate-trailing-bytes", "br", "zstd-last"])
def test_refuses(coded: bytes, coding: bytes, status: int, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle) as info:
        decoded_body(coded, coding, max_bytes=20 if status == 413 else 1000)
    assert info.value.http_status == status and info.value.fix


def test_an_empty_body_has_nothing_to_decode() -> None:
    assert decoded_body(b"", b"gzip", max_bytes=10) == b""
