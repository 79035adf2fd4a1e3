"""Reading a request body: only when a handler needs it, its size limit enforced while it
arrives (after decoding gzip or deflate, so a small bomb cannot grow past it), within a deadline.

Failures are ApiErrors of documented kinds, rendered in the envelope of the protocol called; a
client that hangs up mid-body is ClientGone (nothing is left to answer).
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from emulator.config import HttpLimits
from emulator.errors import ApiError

LIMITS = web.AppKey("http_limits", HttpLimits)
# zlib's window bits: gzip with its header, zlib-wrapped deflate (RFC 9110's "deflate"), and
# raw deflate (what some clients send as "deflate").
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


async def read_body(request: web.Request) -> bytes:
    """The request body, decoded; raises ApiError (too large, bad encoding, too slow)."""
    limits = request.app[LIMITS]
    encoding = _encoding(request)
    content = request.content
    try:
        if encoding is None:
            if content.is_eof():  # all of it has arrived (the usual small body): what is
                body = content.read_nowait()  # buffered, in one piece, no wait
                if len(body) > limits.max_body:
                    raise ApiError("body_too_large", limit=limits.max_body)
                return body
            declared = request.content_length
            if declared is not None and declared > limits.max_body:
                raise ApiError("body_too_large", limit=limits.max_body)  # before a byte is read
        elif content.is_eof():  # all of it has arrived, encoded: decoded here, no wait
            return await _read(request, encoding, limits.max_body)
        return await asyncio.wait_for(
            _read(request, encoding, limits.max_body), limits.body_timeout
        )
    except asyncio.TimeoutError:
        raise ApiError("body_timeout", seconds=f"{limits.body_timeout:g}") from None
    except ConnectionError:
        raise ClientGone() from None
    except HttpProcessingError:  # e.g. a chunked body whose framing breaks mid-way
        raise ApiError("bad_body_framing") from None


def _encoding(request: web.Request) -> str | None:
    """The Content-Encoding to undo: None for none (or aiohttp already undid it)."""
    value = request.headers.get("Content-Encoding", "").strip().lower()
    if value in ("", "identity"):
        return None
    if getattr(request.content, "total_compressed_bytes", None) is not None:  # (none: no body)
        return None  # served by a runner with aiohttp's own decoding on: already plain
    if value not in _WBITS:
        shown = value.encode("ascii", "backslashreplace").decode("ascii")[:40]
        raise ApiError("unsupported_content_encoding", encoding=shown)
    return value


async def _read(request: web.Request, encoding: str | None, limit: int) -> bytes:
    # One growing buffer, not a list of chunks: a large buffer is its own mapping that goes
    # back to the system when freed, where thousands of 64 KiB chunks alive at once fragment
    # the heap (4 x 48 MiB bodies left ~130 MB held that way).
    body = bytearray()
    decoder = _Decoder(encoding, limit) if encoding is not None else None
    while chunk := await request.content.readany():
        body += decoder.feed(chunk) if decoder is not None else chunk
        if len(body) > limit:
            raise ApiError("body_too_large", limit=limit)
    if decoder is not None:
        decoder.finish()
    return bytes(body)


class _Decoder:
    """gzip or deflate, decoded at most `limit` + 1 bytes at a time: a bomb stops at the limit
    instead of expanding in memory first."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.raw_deflate = False
        self.started = False
        self.produced = 0
        self.inflate = zlib.decompressobj(_WBITS[encoding])

    def feed(self, data: bytes) -> bytes:
        if not self.started and data:
            self.started = True
            # "deflate" without the zlib wrapper (its first byte's low bits are not 8): raw.
            if self.encoding == "deflate" and data[0] & 0x0F != 8:
                self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        out: list[bytes] = []
        while data:
            room = self.limit + 1 - self.produced
            try:
                piece = self.inflate.decompress(data, room)
            except zlib.error:
                raise self._invalid() from None
            self.produced += len(piece)
            out.append(piece)
            if self.produced > self.limit:
                break  # the caller refuses it as too large
            if self.inflate.eof and self.inflate.unused_data:
                raise self._invalid()  # bytes after the end of the compressed stream
            data = self.inflate.unconsumed_tail
        return b"".join(out)

    def finish(self) -> None:
        if self.started and not self.inflate.eof:  # cut short: it never reached its end
            raise self._invalid()

    def _invalid(self) -> ApiError:
        return ApiError("bad_content_encoding", encoding=self.encoding)
