"""Responses API request fields that take a response off its usual echo, one at a time: the
inputs of the tests that hold the straight renderings (the opening response, the finished one)
to the generic encoder's bytes (tests/test_rendering.py, tests/test_stream_frames.py)."""

from __future__ import annotations

from typing import Any

UNUSUAL_FIELDS: tuple[tuple[str, Any], ...] = (
    ("metadata", {"b": "2", "a": "1"}),
    ("temperature", 0.7),
    ("temperature", 1),
    ("top_p", 0.25),
    ("max_output_tokens", 64),
    ("store", False),
    ("parallel_tool_calls", True),
    ("reasoning", {"effort": "none"}),
    ("reasoning", {"effort": "low"}),
    ("text", {"format": {"type": "text"}}),
    ("tool_choice", "none"),
    ("tools", [{"type": "function", "name": "f", "parameters": {"type": "object"}}]),
    ("tools", [{"type": "web_search"}]),
)
