"""uvicorn's server, waking once a second instead of ten times while idle.

`uvicorn.Server.main_loop` sleeps 0.1 s between ticks to refresh the Date header once a second and
to notice a stop signal. An idle model server spent ~3.5 ms of CPU a second on it: nothing for one
endpoint, most of the platform's idle CPU with hundreds (`bench/density_bench.py`). Here the loop
ticks once a second, every tick refreshes the header, and a stop signal wakes it at once, so a
SIGTERM drains as promptly as before. Only `main_loop` and `handle_exit` are replaced, both small
public-by-convention methods of uvicorn's `Server`; everything else is uvicorn's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType

import uvicorn

_TICKS_PER_SECOND = 10  # uvicorn's on_tick refreshes the Date header when its counter is a multiple of this
_COUNTER_WRAP = 864000  # as uvicorn wraps its counter


class QuietServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + _TICKS_PER_SECOND) % _COUNTER_WRAP
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)
