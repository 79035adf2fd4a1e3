"""What rendering a stream's frames costs, per frame, without sockets or the rest of a request.

    python bench/frames.py [--words 400] [--repeats 7]

Each protocol's stream encoder renders the frames of one fixed answer (text, thinking, a tool
call); the figure is the least CPU time per frame over the repeats, with the cost of cutting
the text into pieces measured apart (it is the engine's, and the same for every encoder).
To measure another version: PYTHONPATH=<its checkout> python bench/frames.py (from there).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

from inprocess import least  # bench/ is on the path when a script of it runs

from emulator.catalog import default_catalog
from emulator.engine.types import ChatRequest, ChatResult, Completion, Message, ToolCall, Usage
from emulator.protocols import anthropic_messages, openai_chat, openai_responses
from emulator.protocols.meta import ResponseMeta

WORDS = 'the sea is wide and grey, "said" she; 海 is deep\n'


def result(words: int, thinking: bool, tool: bool) -> ChatResult:
    text = " ".join(WORDS.split(" ") * (words // 10 + 1))[: words * 6]
    calls = (ToolCall("call_0", "get_weather", '{"city":"Paris","days":3}'),) if tool else ()
    choice = Completion(
        text=text,
        reasoning=text[: len(text) // 2] if thinking else "",
        tool_calls=calls,
        finish_reason="tool_calls" if tool else "stop",
        signature="sig" if thinking else "",
        piece_seed=7,
    )
    return ChatResult((choice,), Usage(12, words))


def encoders(words: int) -> dict[str, Callable[[], Iterator[bytes]]]:
    model = default_catalog().text_model("qwen3.6-plus")
    assert model is not None
    meta = ResponseMeta("00000000-0000-4000-8000-000000000000", 1777593600, "qwen3.6-plus")
    said = (Message("user", "Write about the sea."),)
    plain = result(words, False, False)
    chat = ChatRequest(protocol="openai", model=model, messages=said, include_usage=True)
    responses = openai_responses.parse({"input": "Write about the sea."}, model)
    items = openai_responses.output_items(plain, (), meta.request_id)
    final = openai_responses.response_body(responses, meta, items.items, items.status, None)
    return {
        "openai chat": lambda: openai_chat.stream_frames(chat, plain, meta),
        "anthropic messages": lambda: anthropic_messages.stream_frames(plain, meta),
        "openai responses": lambda: openai_responses.Stream().frames(
            responses, meta, plain, (), final
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--times", type=int, default=50)
    args = parser.parse_args()
    pieces = result(args.words, False, False).choices[0]
    cutting = least(lambda: list(pieces.text_pieces), args.repeats, args.times)
    count = sum(1 for _ in pieces.text_pieces)
    print(f"cutting {args.words} words into {count} pieces: {cutting / count * 1e6:.2f} us/piece")
    print("| encoder | frames | us per frame (cutting included) | us per frame (without) |")
    print("|---|---|---|---|")
    for name, frames in encoders(args.words).items():
        total = sum(1 for _ in frames())
        spent = least(lambda frames=frames: list(frames()), args.repeats, args.times)
        print(
            f"| {name} | {total} | {spent / total * 1e6:.2f} "
            f"| {(spent - cutting) / total * 1e6:.2f} |"
        )


if __name__ == "__main__":
    main()
