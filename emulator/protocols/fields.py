"""Typed reads of request-body fields, each failure a documented 400 in the caller's envelope."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from emulator.errors import ApiError, invalid, out_of_range
from emulator.json_text import encoder

SEED_MAX = 2**31 - 1
# json.loads's own decoder (no options), and its C scanner, which decode() calls after a
# Python-level detour of two frames and two whitespace matches.
_DECODER = json.JSONDecoder()
# (set by JSONDecoder.__init__, missing from typeshed's JSONDecoder)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_SPACE = " \t\n\r"  # the whitespace JSON allows around a value
# A body that may hold a lone UTF-16 surrogate: a \uD800-\uDFFF escape, or one encoded in UTF-8.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
# The bytes its matches start with, as ints: `int in bytes` is a memchr, while `bytes in bytes`
# first tries the operand as an int and raises and clears a TypeError.
_BACKSLASH, _SURROGATE_LEAD = ord("\\"), 0xED


def parse_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object."""
    try:
        if raw[:1] == b"{" and raw[1:2] != b"\0":
            # What json.loads does with these bytes (its detect_encoding says UTF-8 for a
            # body that starts with `{` and no NUL), without its Python-level detour: the
            # scanner reads the object, and only JSON whitespace may follow it.
            text = raw.decode("utf-8", "surrogatepass")
            body, end = _SCAN(text, 0)
            if end != len(text) and text[end:].strip(_JSON_SPACE):
                raise ValueError("Extra data")
        else:
            body = json.loads(raw) if raw else None
        # (the bytes a match starts with first: `in` of a byte's value is a memchr, far cheaper
        # than the pattern's search, and most bodies have neither)
        if (_BACKSLASH in raw or _SURROGATE_LEAD in raw) and _MAYBE_SURROGATE.search(raw):
            body = _without_lone_surrogates(body)
    except (ValueError, UnicodeDecodeError, RecursionError, StopIteration):
        # (RecursionError: nested too deep; StopIteration: the scanner found no value)
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with every unpaired surrogate (legal in JSON text, not encodable as UTF-8, as a
    tool that cuts a string between the halves of an emoji sends) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def model_id(body: dict[str, Any]) -> str:
    value = body.get("model")
    if value is None or value == "":
        raise ApiError("missing_model")
    if not isinstance(value, str):
        raise invalid("'model' must be String")
    return value


def type_error(name: str, expected: str) -> ApiError:
    return invalid(f"'{name}' must be {expected}")


def boolean(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise type_error(name, "Boolean")
    return value


def integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise type_error(name, "Integer")
    return value


def number(body: dict[str, Any], name: str) -> float | None:
    """An optional number; an integer too large for a float reads as an infinity."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(name, "Number")
    if isinstance(value, int):
        # JSON integers have no size limit: one beyond float range is beyond every range a
        # number is checked against, so it becomes an infinity of its sign (not OverflowError).
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if not math.isfinite(value):
        raise type_error(name, "Number")
    return value


def int_in(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    """An optional integer in [low, high]; `Range of NAME should be [low, high]` otherwise."""
    value = integer(body, name)
    if value is not None and not low <= value <= high:
        raise out_of_range(name, f"[{low}, {high}]")
    return value


def number_in(
    body: dict[str, Any],
    name: str,
    low: float,
    high: float,
    *,
    bounds: str,
    open_low: bool = False,
    open_high: bool = False,
) -> float | None:
    value = number(body, name)
    if value is None:
        return None
    below = value <= low if open_low else value < low
    above = value >= high if open_high else value > high
    if below or above:
        raise out_of_range(name, bounds)
    return value


def seed(body: dict[str, Any]) -> int | None:
    """`seed` in [0, 2^31-1], with the service's `invalid_value` messages."""
    value = body.get("seed")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError("invalid_value", detail="'seed' must be Integer")
    if value < 0:
        raise ApiError(
            "invalid_value",
            detail=f"{value} is lesser than the minimum of 0 - 'seed'",
        )
    if value > SEED_MAX:
        raise ApiError(
            "invalid_value",
            detail=f"{value} is greater than the maximum of {SEED_MAX} - 'seed'",
        )
    return value


def string_list(value: Any, name: str) -> tuple[str, ...]:
    """A string or a list of strings (`stop`, `stop_sequences`)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise type_error(name, "a string or a list of strings")


def text_of(content: Any, name: str) -> tuple[str, int]:
    """Text and image count of a content value: a string, null, or a list of typed parts."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        raise type_error(name, "a string or a list of content parts")
    texts: list[str] = []
    images = 0
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise type_error(name, "a string or a list of content parts")
        kind = part.get("type")
        if kind in (
            "image_url",
            "image",
            "video",
            "video_url",
            "input_audio",
            "input_image",  # the Responses API's parts
            "input_file",
            "input_video",
        ):
            images += 1
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("content"), (str, list)):
            inner, more = text_of(part["content"], name)
            texts.append(inner)
            images += more
    return "\n".join(texts), images


def has_cache_marker(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(p, dict) and isinstance(p.get("cache_control"), dict) for p in content
    )


# One encoder for every answer: json.dumps with these arguments would build a new one per call.
_COMPACT = encoder(ensure_ascii=False, separators=(",", ":"))


def compact(value: Any) -> str:
    """JSON as the service writes it: no spaces, UTF-8 kept as is."""
    return _COMPACT(value)
