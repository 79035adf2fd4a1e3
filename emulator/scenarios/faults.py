"""Faults a rule can inject: slowness, broken connections and broken streams.

Each is what a tool meets on a bad day: latency before the first byte (fixed, or jittered from
the seed), a delay between chunks, a connection dropped before any response, a stream cut after
N chunks, a stall until the client gives up, an error frame or a malformed chunk mid-stream, or a
raw gateway status (a 502 / 503 from the proxy, not a JSON error).
"""

from __future__ import annotations

from dataclasses import dataclass

# What the real gateway (istio-envoy) writes for a raw status: plain text, not JSON.
GATEWAY_BODIES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: (
        "upstream connect error or disconnect/reset before headers. "
        "reset reason: connection termination"
    ),
    504: "upstream request timeout",
}


@dataclass(frozen=True)
class Fault:
    latency: float = 0.0  # seconds before the first byte
    jitter: float = 0.0  # plus up to this many seconds more, drawn from the seed
    chunk_delay: float = 0.0  # seconds between stream chunks
    drop: bool = False  # close the connection before any response
    stall: bool = False  # never answer, until the client gives up
    cut_after: int | None = None  # close the connection after N stream chunks
    error_after: int | None = None  # after N chunks, the rule's `error` as a stream error frame
    malformed_after: int | None = None  # after N chunks, one chunk that is not valid JSON
    status: int | None = None  # answer this raw status with the gateway's plain-text body

    @property
    def touches_stream(self) -> bool:
        return bool(
            self.chunk_delay
            or self.cut_after is not None
            or self.error_after is not None
            or self.malformed_after is not None
        )

    def gateway_body(self) -> str:
        return GATEWAY_BODIES.get(self.status or 0, "")
