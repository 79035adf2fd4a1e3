"""Who may call the admin API (/_emulator/), judged before any handler runs.

The admin API returns full keys and moves the plan, so it trusts only this machine's clients:
- the peer: a loopback address, unless `--admin-anywhere`;
- the `Host` header: a loopback name or address, the host the server was bound to, or none
  (as dev servers check it): a page on a DNS-rebound name (`evil.example` now resolving to
  127.0.0.1) reaches the socket but names its own host, so it cannot read the keys;
- writes (any method but GET and HEAD): no `Origin` (a non-browser client) or this server's
  own (the usage page), and `Content-Type: application/json`, which no cross-site form can
  send and which makes a cross-site `fetch` ask first (a preflight this server never grants).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from emulator.admin.values import shown

SAFE_METHODS = frozenset({"GET", "HEAD"})
# Hosts a server may be bound to that name no one interface. As a Host header they are IP
# literals, which no DNS rebinding can produce, so they are accepted like loopback names.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
_AUTHORITY = re.compile(
    r"^(?:\[(?P<ipv6>[0-9A-Za-z:.%]+)\]|(?P<name>[^\[\]:/@\s]+))(?::(?P<port>[0-9]{1,5}))?$",
    re.ASCII,
)
_ORIGIN = re.compile(r"^(?P<scheme>https?)://(?P<authority>[^/?#\s]+)$", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


def loopback(host: str | None) -> bool:
    """Whether `host` names this machine's loopback: `localhost`, 127.0.0.0/8, `::1`, or one
    of those mapped into IPv6 (`::ffff:127.0.0.1`)."""
    if not host:
        return False
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def split_authority(authority: str) -> tuple[str, int | None] | None:
    """`host[:port]` (IPv6 in brackets) as (lower-case host, port), or None if malformed."""
    match = _AUTHORITY.match(authority)
    if match is None:
        return None
    host = (match.group("ipv6") or match.group("name")).lower().rstrip(".")
    port = match.group("port")
    return host, int(port) if port else None


@dataclass(frozen=True)
class AdminPolicy:
    """What the server was started with that widens who may call: `--admin-anywhere` (any
    peer, any Host) and the host it is bound to (a name its clients use)."""

    anywhere: bool = False
    bound_host: str = "127.0.0.1"

    def host_allowed(self, host: str) -> bool:
        bound = self.bound_host.lower().strip("[]").rstrip(".")
        return (
            self.anywhere
            or loopback(host)
            or host in WILDCARD_HOSTS
            or (bound not in WILDCARD_HOSTS and host == bound)
        )

    def refusal(
        self, method: str, remote: str | None, headers: Mapping[str, str]
    ) -> Refusal | None:
        """Why this request may not reach the admin API, or None when it may."""
        if not self.anywhere and not (loopback(remote) or remote == "localhost"):
            return Refusal(403, "the admin API answers on loopback only")
        given_host = headers.get("Host")
        host = split_authority(given_host) if given_host is not None else ("", None)
        if host is None or not self.host_allowed(host[0]):
            return Refusal(
                403,
                f"Host {shown(given_host)} is refused: the admin API answers to loopback "
                "names only (127.0.0.1, localhost, [::1]), a guard against DNS rebinding; "
                "start the emulator with --admin-anywhere to lift it",
            )
        if method in SAFE_METHODS:
            return None
        origin = headers.get("Origin")
        if origin is not None and not _same_origin(origin, given_host or "", host[1]):
            return Refusal(
                403,
                f"cross-origin admin request refused: Origin {shown(origin)} is not this "
                "server; admin writes come from the usage page or from clients that send no "
                "Origin",
            )
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return Refusal(
                415,
                "admin writes need Content-Type: application/json (got "
                f"{shown(content_type) if content_type else 'none'}), a guard against "
                "cross-site form posts",
            )
        return None


def _same_origin(origin: str, host_header: str, host_port: int | None) -> bool:
    """Whether a browser's `Origin` is this server: the very `Host` the request was sent to,
    or a loopback name on the same port (the page at localhost:8765 calling 127.0.0.1:8765)."""
    match = _ORIGIN.match(origin)
    if match is None:  # "null" (a sandboxed frame, a file:// page) and anything malformed
        return False
    scheme = match.group("scheme").lower()
    default = 443 if scheme == "https" else 80
    theirs = split_authority(match.group("authority"))
    ours = split_authority(host_header)
    if theirs is None or ours is None:
        return False
    their_port = theirs[1] or default
    if theirs[0] == ours[0] and their_port == (ours[1] or default):
        return True
    return loopback(theirs[0]) and loopback(ours[0]) and their_port == (host_port or default)
