"""A lean HTTP/1.1 keep-alive client for hot request loops (the prediction-diff replay).

The replay sends 2,000 requests from a few threads in the calling process, where
every microsecond of client code is serialised by the GIL. httpx cost about
0.8 ms of CPU per request there (its connection pool, locks, event objects and
per-client SSL context, measured with py-spy); one reused `http.client`
connection per thread costs about a fifth of that and halved the replay's wall
time on the same machine (see bench/RESULTS.md, issue 15, second pass). One
`KeepAlive` belongs to one thread: it is not locked.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes


class KeepAlive:
    """POSTs to one base URL (http or https, with an optional path prefix) over one reused connection."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._connection = kind(parts.hostname, parts.port, timeout=timeout)
        self._prefix = parts.path.rstrip("/")
        self._host = parts.netloc
        self._used = False

    def post_json(self, path: str, body: bytes) -> Reply:
        """POST `body` (JSON) to `path`; a kept-alive connection the server closed meanwhile is retried once.

        Raises OSError or http.client.HTTPException when there is no answer.
        """
        headers = {"Host": self._host, "Content-Type": "application/json", "Accept": "application/json"}
        for attempt in range(2):
            reused = self._used
            try:
                self._connection.request("POST", self._prefix + path, body, headers)
                response = self._connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self._connection.close()
                self._used = False
                if reused and attempt == 0:
                    continue  # the server closed an idle connection just as it was picked
                raise
            except BaseException:
                self._connection.close()
                self._used = False
                raise
            self._used = not response.will_close
            if response.will_close:
                self._connection.close()
            return Reply(response.status, response.getheader("content-type", ""), data)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> KeepAlive:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
