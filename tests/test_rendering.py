"""The answers written straight into their fixed frames (the usual shapes, for speed) are the
same text as the general rendering, and the shared encoders the same text as json.dumps, byte
for byte, whatever the value holds."""

from __future__ import annotations

import itertools
import json

from emulator.catalog import base_catalog
from emulator.engine.types import ChatRequest, ChatResult, Completion, ToolCall, Usage
from emulator.json_text import encoder
from emulator.protocols import anthropic_messages, openai_chat
from emulator.protocols.fields import compact
from emulator.protocols.meta import ResponseMeta
from tests.responses_requests import UNUSUAL_FIELDS

MODEL = base_catalog().text_models["qwen3.6-plus"]
# Text a JSON encoder must escape, or must not: quotes, backslashes, controls, the line
# separators JavaScript minds, accents, CJK, an emoji, and nothing at all.
TEXTS = ("", "Plain words.", 'a "quote" \\ back\nslash\t\x00\x1f', "\u2028\u2029 é 中文 😀")
CALLS = ((), (ToolCall("call_1", "read_file", '{"path":"a \\"b\\""}'),))
USAGES = (
    Usage(input_tokens=20, output_tokens=44),
    Usage(70_000, 3, reasoning_tokens=2, cached_tokens=512, cache_creation_tokens=7),
    Usage(1500, 9, cached_tokens=1024, cache_creation_tokens=300, cache_explicit=True),
)
META = (ResponseMeta("0f1e2d3c-aaaa-bbbb-cccc-0123456789ab", 1_777_593_600, "qwen3.6-plus"),)


def _results() -> list[ChatResult]:
    results = []
    for text, reasoning, calls, finish, stop, usage in itertools.product(
        TEXTS,
        ("", "Thought \u00fcber it."),
        CALLS,
        ("stop", "length", "tool_calls"),
        (None, "END"),
        USAGES,
    ):
        choice = Completion(text, reasoning, calls, finish, stop_sequence=stop, signature="sig")  # type: ignore[arg-type]
        results.append(ChatResult((choice,), usage))
        results.append(ChatResult((choice, Completion("second", "", (), "stop")), usage))
    return results


def test_openai_completion_json_is_the_compact_body() -> None:
    for result, thinking, meta in itertools.product(_results(), (False, True), META):
        request = ChatRequest("openai", MODEL, (), n=len(result.choices), thinking=thinking)
        expected = compact(openai_chat.completion_body(request, result, meta))
        assert openai_chat.completion_json(request, result, meta) == expected


def test_anthropic_message_json_is_the_compact_body() -> None:
    for result, meta in itertools.product(_results(), META):
        result = ChatResult(result.choices[:1], result.usage)  # one choice: Anthropic's
        expected = compact(anthropic_messages.message_body(result, meta))
        assert anthropic_messages.message_json(result, meta) == expected


# Values of every JSON kind, and what json.dumps makes of Python's corner cases: floats
# (repr, NaN and infinities allowed), huge integers, booleans, None, nesting, keys to sort.
VALUES = (
    {"b": [1, 2.5, -0.0, 1e300, 1 / 3, float("nan"), float("inf"), -float("inf")], "a": None},
    [True, False, None, 10**40, -7, "", "é 中 😀 \u2028", {"z": {"y": [[]]}, "x": {}}],
    'a lone string with "quotes" and \\ and \n',
    12345678901234567890,
    [{"nested": [{"deep": [{"deeper": "text"}]}]}],
)


def test_the_shared_encoders_write_what_json_dumps_writes() -> None:
    for options in (
        {"ensure_ascii": False},
        {"ensure_ascii": False, "separators": (",", ":")},
        {"ensure_ascii": False, "separators": (",", ":"), "sort_keys": True},
        {},
    ):
        encode = encoder(**options)
        for value in VALUES:
            assert encode(value) == json.dumps(value, **options)  # type: ignore[arg-type]


def test_request_bodies_parse_as_json_loads_parses_them() -> None:
    from emulator.errors import ApiError
    from emulator.protocols.fields import parse_object

    bodies = (
        b'{"model":"m","messages":[{"role":"user","content":"hi"}]}',
        '{"t": "é 中 😀", "n": 1.5e3, "x": [true, null]}'.encode(),
        b'{"a": "\\ud83d\\ude00", "b": "\\u00e9"}',
        b'{"a":1} ',
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        b"{",
        b"{}",
        b'{"a":1}x',
        b'{"a":1} \t\r\n',
        b'{"a":1}\x0b',  # not JSON's whitespace
        b'{"a":1}\xc2\xa0',
        b'{"a":1}\x00',
        b"{}{}",
        b'{"a":}',
        b'{"a":"\xff"}',
        b"[1]",
        b" {}",
    )
    for raw in bodies:
        try:
            loaded = json.loads(raw)
            expected = loaded if isinstance(loaded, dict) else "refused"
        except ValueError:
            expected = "refused"
        try:
            parsed: object = parse_object(raw)
        except ApiError:
            parsed = "refused"
        assert parsed == expected, raw


def test_responses_response_json_is_the_sorted_dumps() -> None:
    from emulator.engine.builtin_tools import ToolRun
    from emulator.protocols import openai_responses as responses

    bodies: list[dict[str, object]] = [{"input": "Hi"}]
    for name, value in (("instructions", 'Be brief \u00e9 "q"'), *UNUSUAL_FIELDS):
        bodies.append({"input": "Hi", name: value})
        bodies.append({"input": "Hi", "instructions": "Sys", name: value})
    runs = ((), (ToolRun("web_search", "sea", ("https://a.example/",)),))
    usages = (Usage(20, 44), Usage(9, 3, reasoning_tokens=1, cached_tokens=4))
    usages += (Usage(1500, 9, cached_tokens=1024, cache_creation_tokens=7, cache_explicit=True),)
    for body, text, reasoning, calls, finish, run, usage in itertools.product(
        bodies, TEXTS, ("", "Why."), CALLS, ("stop", "length"), runs, usages
    ):
        parsed = responses.parse(body, MODEL)
        choice = Completion(text, reasoning, calls, finish)  # type: ignore[arg-type]
        result = ChatResult((choice,), usage)
        rendered = responses.output_items(result, run, META[0].request_id)
        spent = responses.usage_body(usage, run)
        final = responses.response_body(parsed, META[0], rendered.items, rendered.status, spent)
        assert responses.response_json(final) == responses.dumps(final)
