"""Delivering an answer: server-sent events written frame by frame with a scenario's stream
faults applied, the rule that answers a request (and the delay its fault asks for), a fault's
non-answer, and the journal entry of a request recorded once (with the plan committed
alongside)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from aiohttp import web

from emulator.call import CALL, Answering, Outcome
from emulator.errors import ApiError
from emulator.journal import Entry
from emulator.runtime import RUNTIME
from emulator.scenarios.faults import Fault
from emulator.scenarios.rules import Probe, rule_error
from emulator.web import DirectHead, GatewayHead

log = logging.getLogger("emulator")

CLIENT_GONE = "client_gone"  # the journal's error for a client that hung up before the end
# Bytes a stream writes before it lets other requests run: `write` waits only when the
# transport's buffer is past its high-water mark (a slow reader), so a long answer to a fast
# reader would otherwise hold the event loop until its last frame.
YIELD_EVERY = 16 * 1024
# Frames that are ready together go out together, up to this many bytes a write: the bytes on
# the wire are the same, at one write (and one chunk) for many frames instead of one each. A
# scenario's stream fault acts between frames, so a stream it touches is written frame by frame.
WRITE_EVERY = 16 * 1024

# Set when the server shuts down: a stalled request lets go, or it would hold the shutdown up.
STOPPING = web.AppKey("stopping", asyncio.Event)
NOT_SENT = 499  # the journal's status for a request that got no response (a drop or a stall)
# A chunk that is not valid JSON, in each protocol's stream form (the malformed-chunk fault).
MALFORMED = {
    "openai": b'data: {"choices":[{"delta":{"content":"\n\n',
    "anthropic": b'event: content_block_delta\ndata: {"type":"content_block_delta","ind\n\n',
}


class _HeldHeaders(DirectHead):
    """A stream whose status line and headers wait for its first write, as a plain
    Response's do: a short answer's headers, frames and end of stream then go out in one
    write instead of three (aiohttp's own switch; the bytes on the wire are the same)."""

    _send_headers_immediately = False


async def sse_response(
    request: web.Request, frames: Iterator[bytes], error_frame: Callable[[ApiError, str], bytes]
) -> web.StreamResponse:
    """Stream `frames`, written (and so flushed) as they are produced, with backpressure: a
    reader that stops reading holds at most the transport's high-water mark of unsent bytes.
    Frames produced together share a write (WRITE_EVERY), the headers the first and the end
    of the stream the last; under a stream fault the headers go out at once and each frame is
    written alone. An ApiError once the 200 has gone out becomes an error frame in the
    protocol's stream form."""
    call = request[CALL]
    await call.runtime.persisted()  # the charge, journaled when the answer was made: on disk
    rule = call.answering.rule if call.answering is not None else None
    fault = rule.fault if rule is not None and rule.fault and rule.fault.touches_stream else None
    kind = DirectHead if fault is not None else _HeldHeaders
    response = kind(GatewayHead.of(request, "text/event-stream;charset=UTF-8"))
    started = False  # whether the status line went out
    pending: list[bytes] = []  # frames produced and not yet written
    size = 0  # their bytes
    try:
        await response.prepare(request)
        started = fault is not None
        try:
            if fault is not None:
                await _faulted_frames(request, response, fault, frames)
                if call.ended:  # cut
                    return response
            else:
                for frame in frames:
                    pending.append(frame)
                    size += len(frame)
                    if size >= WRITE_EVERY:
                        chunk, pending, size = b"".join(pending), [], 0
                        await response.write(chunk)
                        started = True
                        await asyncio.sleep(0)  # let other requests run
        except ApiError as error:
            call.entry.error = error.kind.name
            pending.append(error_frame(error, call.request_id))
        except ConnectionError:
            raise  # the client went away: below
        except Exception:  # a bug: the 200 is out, so say it in the stream, not a second response
            log.exception("unexpected failure while streaming %r", request.path)
            call.entry.error = "internal_error"
            pending.append(error_frame(ApiError("internal_error"), call.request_id))
        last = b"".join(pending)
        call.ended = not last  # with frames still to write, the end is not reached yet
        journal_once(request, response.status)  # before the stream ends: a client that read to
        await call.runtime.persisted()  # the end finds its request in the journal (and state)
        await response.write_eof(last)
        call.ended = True
    except (ConnectionError, asyncio.CancelledError) as gone:
        # The client hung up (reset, broken pipe, a closed transport: every ConnectionError), or
        # the server is stopping and cancelled the handler. Once the 200 went out, the journal
        # says 200, with what happened; before (a client gone while the answer was made, or a
        # load generator stopping mid-request), no answer went out, as for a dropped
        # connection. The charge taken when the answer was made stays.
        _client_gone(request, response.status if started else NOT_SENT)
        if isinstance(gone, asyncio.CancelledError):
            raise
        if not started:
            return web.Response(status=NOT_SENT)
    return response


async def _faulted_frames(
    request: web.Request, response: web.StreamResponse, fault: Fault, frames: Iterator[bytes]
) -> None:
    """Write `frames` one by one with the stream fault applied before each; a cut ends the
    call (`Call.ended`)."""
    unyielded = 0  # bytes written since the stream last let other requests run
    for index, frame in enumerate(frames):
        if await _stream_fault(request, response, fault, index):
            return
        await response.write(frame)
        unyielded += len(frame)
        if unyielded >= YIELD_EVERY:
            unyielded = 0
            await asyncio.sleep(0)


def _client_gone(request: web.Request, status: int) -> None:
    call = request[CALL]
    entry = call.entry
    if not call.ended:  # a stream that reached its end (or a cut fault) keeps its entry
        entry.error = entry.error or CLIENT_GONE
        log.info("%r: the client went away during the stream", request.path)
    journal_once(request, status)


async def _stream_fault(
    request: web.Request, response: web.StreamResponse, fault: Fault, index: int
) -> bool:
    """Apply a stream fault before chunk `index`; True when the stream is over (cut)."""
    if fault.chunk_delay and index:
        await asyncio.sleep(fault.chunk_delay)
    call = request[CALL]
    if fault.cut_after == index:
        call.entry.error = "fault:cut"
        call.ended = True
        journal_once(request, response.status)
        if request.transport is not None:
            request.transport.abort()  # no terminating chunk: the client sees a cut stream
        return True
    if fault.error_after == index and call.answering is not None:
        raise rule_error(call.answering.rule, call.answering.probe)
    if fault.malformed_after == index:
        await response.write(MALFORMED.get(call.entry.protocol or "", b"data: {\n\n"))
    return False


def journal_once(request: web.Request, status: int) -> None:
    """Record the request's journal entry and commit the plan with it (`--state`): in the
    event loop's next pass, together with the other requests handled in this one
    (Runtime.persist_soon); whoever answers awaits `Runtime.persisted()` first.

    An entry is recorded once. A stream's is recorded when its charge is made, before its
    first byte, so the charge and its entry are one commit (a process killed mid-stream keeps
    both); a later call with what the stream ended as (an error frame, a cut, another status)
    writes the entry again, and costs nothing when nothing changed."""
    call = request[CALL]
    entry = call.entry
    entry.status = status
    runtime = call.runtime
    recorded = call.recorded
    if recorded is None:
        journal = runtime.journal
        call.recorded = journal, journal.record(entry), _outcome(entry)
        runtime.persist_soon()  # (committed before the answer goes out: Runtime.persisted)
        return
    journal, number, outcome = recorded
    if _outcome(entry) != outcome:
        call.recorded = journal, number, _outcome(entry)
        runtime.revise(journal, number, entry)


def _outcome(entry: Entry) -> Outcome:
    """What may change in an entry after it was recorded (a stream's end, a late refusal)."""
    return entry.status, entry.error, entry.response_body


async def no_answer(request: web.Request, stall: bool) -> web.Response:
    """A fault's non-answer: drop the connection at once, or hold it until the client or the
    server gives up."""
    transport = request.transport
    request[CALL].entry.error = "fault:stall" if stall else "fault:drop"
    if stall:
        stopping = request.app[STOPPING]
        while transport is not None and not transport.is_closing() and not stopping.is_set():
            await asyncio.sleep(0.05)
    journal_once(request, NOT_SENT)
    if transport is not None:
        transport.abort()
    return web.Response(status=NOT_SENT)


async def answering_rule(request: web.Request, probe: Probe) -> Answering | None:
    """The scenario rule that answers this call and which of its calls this is, recorded in
    the call (`Call.answering`) and its journal entry (or the closest misses when none does),
    once the latency and jitter of its fault have passed. None: no rule answers."""
    runtime = request.app[RUNTIME]
    rule, number, misses = runtime.rules.pick(probe)
    call = request[CALL]
    if rule is None:
        call.entry.near_misses = misses
        return None
    call.entry.rule = rule.name
    fault = rule.fault or Fault()
    delay = fault.latency
    if fault.jitter:  # drawn from the seed, the rule's call number and the request, never the
        # clock: the same calls get the same delays run after run, on the real clock too
        delay += fault.jitter * runtime.seeds.rng("jitter", rule.name, number, call.body).random()
    if delay:
        await asyncio.sleep(delay)
    call.answering = Answering(rule, number, probe)
    return call.answering
