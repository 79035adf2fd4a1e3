"""Whole answers sent together: those a pass of the event loop finishes go out one after another
at the start of the next pass, before any new request is read.

Under load a pass of the loop runs the handlers of many connections. Sent as each finishes, every
answer wakes the client's process on its own, and the kernel's socket work falls between one
handler and the next; sent together after the handlers, the first answer wakes the client and
the rest find it awake (what Netty's flush consolidation does). On a two-core machine under
16 keep-alive clients this halves the emulator's system time a chat request and takes a tenth
to a quarter off its CPU (docs/performance.md); a server about as fast as its client gains
little (the bare aiohttp handler 6 %).
An answer when the loop has nothing else queued to run goes at once: held, it would cost a lone
request a pass of the loop more (4 % of its instructions) for nothing to send it with.

The connection handler (serving.py) decides which answers may wait: only where nothing else can
be written on that connection, or close it, before the next pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sized

log = logging.getLogger("emulator")


class Outbox:
    """The whole answers held in this pass of the loop, sent at the start of the next."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: list[tuple[asyncio.Transport, bytes]] = []
        # The callbacks the loop has queued to run (other handlers, reads): asyncio's own loop
        # keeps them as `_ready` (a private name, unchanged since 3.4); on a loop without it
        # (uvloop) every answer is held.
        self._ready: Sized | None = getattr(loop, "_ready", None)

    def hold(self, transport: asyncio.Transport, data: bytes) -> None:
        """Send `data` on `transport` with the others of this pass, at the next; or now, when
        none is held and the loop has nothing else queued (a lone request)."""
        held = self._held
        if not held:
            ready = self._ready
            if ready is not None and not len(ready):  # a lone request: nothing to wait for
                transport.write(data)
                return
            self._loop.call_soon(self._send)  # the first of this pass: all go at the next
        held.append((transport, data))

    def release(self, transport: asyncio.Transport) -> None:
        """Send now what is held for `transport`: it is about to close (its client has shut
        its sending half, and asyncio closes the connection when it reads that)."""
        mine = [item for item in self._held if item[0] is transport]
        if mine:
            self._held = [item for item in self._held if item[0] is not transport]
            self._write(mine)

    def _send(self) -> None:
        held, self._held = self._held, []
        self._write(held)

    @staticmethod
    def _write(held: list[tuple[asyncio.Transport, bytes]]) -> None:
        for transport, data in held:
            if transport.is_closing():  # the client hung up meanwhile: nobody to send it to
                continue
            try:
                transport.write(data)
            except Exception:  # (never seen; the others must still go out)
                log.exception("could not send an answer")


class WholeAnswers:
    """What a connection handler offers that sends a whole answer itself, at once or held in
    its server's outbox (serving.py's handler); web.Answer looks for it."""

    __slots__ = ()

    def send_whole(self, data: bytes) -> None:
        raise NotImplementedError
