"""Who is calling: the key in the request's headers, mapped to a seat, or a gateway 401."""

from __future__ import annotations

from collections.abc import Mapping

from emulator.errors import ApiError


def presented_key(headers: Mapping[str, str], accept_x_api_key: bool) -> str | None:
    """The key a request presents: `Authorization: Bearer`, else `x-api-key` when accepted."""
    authorization = headers.get("Authorization")
    if authorization is not None:
        value = authorization.strip()
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            # No Bearer scheme (e.g. the bare key): something was presented, but never a valid
            # key, even when the text is one. "" is no seat's key (seat keys are never empty).
            return "" if value else None
        return token.strip() or None
    if accept_x_api_key:
        return headers.get("x-api-key", "").strip() or None
    return None


def authenticate(
    headers: Mapping[str, str], keys: Mapping[str, str], accept_x_api_key: bool
) -> str:
    """The member whose seat holds the presented key; the FAQ's 401s otherwise."""
    key = presented_key(headers, accept_x_api_key)
    if key is None:
        raise ApiError("no_api_key")
    member = keys.get(key)
    if member is None:
        raise ApiError("invalid_api_key")
    return member
