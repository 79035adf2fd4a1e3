"""Built-in ("Harness") tools the service runs itself on the Responses API: web search, web
extraction, code interpreter, text-to-image and image-to-image search. Their results are fake
but deterministic (drawn from the request's digest) and harmless: every URL is under
example.com, and the interpreter's code only prints what it computed.

A model runs each built-in tool the request enables and the model has once per user turn, in a
fixed order (search, then extraction of the first source, image searches, then code); after a
function tool's result the conversation has moved on and no built-in tool runs. What a tool
returns is fed back to the model, so its tokens count as input (docs/fidelity.md).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from emulator.engine import tokens
from emulator.engine.generate import Writer
from emulator.engine.types import Message

# The wire names, in the order a turn runs them (docs/responses-api.md).
WEB_SEARCH = "web_search"
WEB_EXTRACTOR = "web_extractor"
TEXT_TO_IMAGE = "web_search_image"
IMAGE_TO_IMAGE = "image_search"
CODE_INTERPRETER = "code_interpreter"
ORDER = (WEB_SEARCH, WEB_EXTRACTOR, TEXT_TO_IMAGE, IMAGE_TO_IMAGE, CODE_INTERPRETER)
# The Token Plan's Harness pages name the image searches differently; both are accepted.
ALIASES = {"t2i_search": TEXT_TO_IMAGE, "i2i_search": IMAGE_TO_IMAGE}
SOURCES = 4  # results of one web search
IMAGES = 3  # results of one image search


@dataclass(frozen=True)
class ToolRun:
    """One built-in tool call and what it returned."""

    kind: str  # a name from ORDER
    query: str  # the search query, the extraction goal, or the image query
    urls: tuple[str, ...] = ()  # web search: its sources; web extractor: the pages read
    output: str = ""  # extractor summary, image results (JSON text) or interpreter logs
    code: str = ""  # code interpreter: the program it ran

    @property
    def result_tokens(self) -> int:
        """Tokens of what the tool handed back to the model (billed as input)."""
        return tokens.count(" ".join(self.urls)) + tokens.count(self.output)


def run(
    enabled: tuple[str, ...], messages: tuple[Message, ...], digest: bytes, writer: Writer
) -> tuple[ToolRun, ...]:
    """The built-in tool calls of this turn: none unless the last turn is the user's."""
    last = next((m for m in reversed(messages) if m.role != "system"), None)
    if last is None or last.role != "user" or not enabled:
        return ()
    rng = random.Random(digest + b"builtin")
    query = _query(last.text)
    runs: list[ToolRun] = []
    for kind in ORDER:
        if kind not in enabled:
            continue
        if kind == WEB_SEARCH:
            runs.append(_search(query, rng, writer))
        elif kind == WEB_EXTRACTOR:
            sources = runs[0].urls if runs and runs[0].kind == WEB_SEARCH else ()
            runs.append(_extract(query, sources[:1] or (_url(rng, writer),), rng, writer))
        elif kind == TEXT_TO_IMAGE:
            runs.append(_images(kind, json.dumps({"queries": [query]}), query, rng, writer))
        elif kind == IMAGE_TO_IMAGE and last.images:  # it searches with an image of the input
            arguments = json.dumps({"img_idx": 0, "bbox": [0, 0, 1000, 1000]})
            runs.append(_images(kind, arguments, query, rng, writer))
        elif kind == CODE_INTERPRETER:
            runs.append(_interpret(rng))
    return tuple(runs)


def _query(text: str) -> str:
    words = text.split()
    return " ".join(words[:12]) or "latest news"


def _url(rng: random.Random, writer: Writer, suffix: str = "") -> str:
    words = rng.sample(writer.vocabulary("en_US"), 3)
    return f"https://{words[0]}.example.com/{words[1]}-{words[2]}{suffix}"


def _search(query: str, rng: random.Random, writer: Writer) -> ToolRun:
    urls = tuple(_url(rng, writer) for _ in range(SOURCES))
    return ToolRun(WEB_SEARCH, query, urls=urls)


def _extract(query: str, urls: tuple[str, ...], rng: random.Random, writer: Writer) -> ToolRun:
    goal = f"Extract the key information about {query}"
    evidence = writer.prose("en_US", rng, rng.randint(30, 60))
    summary = writer.prose("en_US", rng, rng.randint(15, 30))
    output = (
        f"The useful information in {urls[0]} for user goal {goal} as follows: \n\n"
        f"Evidence in page: \n{evidence}\n\nSummary: \n{summary}"
    )
    return ToolRun(WEB_EXTRACTOR, goal, urls=urls, output=output)


def _images(kind: str, arguments: str, query: str, rng: random.Random, writer: Writer) -> ToolRun:
    found = [
        {
            "title": writer.prose("en_US", rng, 6).rstrip("."),
            "url": _url(rng, writer, ".jpg"),
            "index": index,
        }
        for index in range(1, IMAGES + 1)
    ]
    return ToolRun(kind, arguments, output=json.dumps(found, ensure_ascii=False))


def _interpret(rng: random.Random) -> ToolRun:
    """A small program and its true output: the sum and mean of a few numbers."""
    numbers = [rng.randint(1, 99) for _ in range(rng.randint(3, 6))]
    code = f"numbers = {numbers}\nprint(sum(numbers), sum(numbers) / len(numbers))"
    logs = f"{sum(numbers)} {sum(numbers) / len(numbers)}\n"
    return ToolRun(CODE_INTERPRETER, "", output=logs, code=code)
