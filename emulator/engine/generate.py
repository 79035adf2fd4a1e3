"""The fake model: deterministic text, thinking, tool calls and JSON for a neutral ChatRequest.

Everything is drawn from a digest of (server seed, model, conversation, `seed` parameter), so the
same conversation always gets the same answer; `max_tokens` and `stop` only cut that answer.
Tool use is predictable and safe to point an agent that auto-approves at (docs/fidelity.md):
with `tool_choice` auto the model calls a tool only when the user's last turn names one (policy
"named"; "always" calls one on every user turn), and answers in text once it has a tool result;
`required` / a named choice force a call, and after tool results `required` ends the loop with a
tool named like a final answer when there is one. Arguments are harmless (schema_faker).
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from emulator.engine import tokens
from emulator.engine.cache import CacheUse
from emulator.engine.types import (
    ChatRequest,
    ChatResult,
    Completion,
    FinishReason,
    Message,
    Script,
    ToolCall,
    ToolPolicy,
    ToolSpec,
    Usage,
)
from emulator.json_text import encoder
from emulator.json_text import string as _string
from emulator.seeds import Seeds, randint

if TYPE_CHECKING:
    from faker import Faker

# Characters of generated JSON per output token the fake model is given room for: its words
# average about 6.4 characters a Qwen token (a huge English instance: 327,680 characters,
# 51,330 tokens), so a JSON answer or tool arguments stop growing only past what the model's
# maximum output could hold anyway.
JSON_CHARS_PER_TOKEN = 8
_JSON_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "points": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["answer", "points", "confidence"],
}
# Tools that end an agent's loop (pydantic-ai's final_result, Cline's attempt_completion, ...):
# with a forced `tool_choice` and tool results already in the conversation, the model calls one
# of these rather than another working tool. Compared lower-case with `_`, `-` and spaces
# removed, so FinalAnswer and final-answer count too.
FINAL_ANSWER_TOOLS = (
    "final_answer",
    "final_result",
    "final_output",
    "submit",
    "respond",
    "answer",
    "done",
    "finish",
    "task_complete",
    "attempt_completion",
)
_FINAL_ANSWER_KEYS = frozenset(n.replace("_", "") for n in FINAL_ANSWER_TOOLS)
# Notes an agent adds to the user's turn (Claude Code's <system-reminder> blocks): not the user
# speaking, so a tool they mention is not a tool the user named.
_REMINDERS = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
# json.dumps(..., ensure_ascii=False), built once: a conversation's digest hashes its output.
_TRANSCRIPT = encoder(ensure_ascii=False)


class Writer:
    """Faker instances per locale, created once and re-seeded for every use. The server is
    single-threaded and generation never awaits, so re-seeding a shared instance is safe."""

    def __init__(self) -> None:
        self._fakers: dict[str, Faker] = {}
        self._vocabularies: dict[str, tuple[str, ...]] = {}
        self._lexicons: dict[str, _Lexicon] = {}

    def faker(self, locale: str, seed: int) -> Faker:
        fake = self._fakers.get(locale)
        if fake is None:
            # Imported with the first answer that needs it: not on every start (it is the
            # largest import, and a test that only checks keys or errors never needs it).
            from faker import Faker

            fake = self._fakers[locale] = Faker(locale)
        fake.seed_instance(seed)
        return fake

    def vocabulary(self, locale: str) -> tuple[str, ...]:
        """Faker's lorem word list for `locale`."""
        words = self._vocabularies.get(locale)
        if words is None:
            from faker import Faker

            # A Faker of the lorem provider alone: the same locale lookup and the same list,
            # without the twenty-odd other providers (0.7 ms instead of 20 ms on the first
            # answer; a text answer needs nothing else of Faker).
            lorem = Faker(locale, providers=["faker.providers.lorem"])
            words = self._vocabularies[locale] = tuple(lorem.get_words_list())
        return words

    def prose(self, locale: str, rng: random.Random, words: int) -> str:
        """Sentences of Faker's words, drawn with `rng` directly: the same text Faker's
        `sentence()` makes, at a fraction of its cost on the hot path."""
        lexicon = self._lexicons.get(locale) or self._lexicon(locale)
        getrandbits = rng.getrandbits
        sizes: list[int] = []
        total = 0
        while total < words:
            # randint(rng, 6, 14), drawn as seeds.randint draws it (9 numbers: 4 bits, drawn
            # again when past them), inline: no frame a sentence
            size = getrandbits(4)
            while size >= 9:
                size = getrandbits(4)
            sizes.append(size + 6)
            total += size + 6
        # rng.choices(vocabulary, k=total), drawn as it draws (one random() a word), inline
        draw, vocabulary, scale, floor = rng.random, lexicon.words, lexicon.scale, math.floor
        picked = [vocabulary[floor(draw() * scale)] for _ in range(total)]
        if locale == "zh_CN":
            sentences: list[str] = []
            start = 0
            for size in sizes:
                sentences.append("".join(picked[start : start + size]) + rng.choice("。。。，！？"))
                start += size
            return "".join(sentences)
        # English: each sentence's first word capitalised (its first letter) and its last
        # followed by a full stop, then every word joined by a space: the same text as the
        # sentences joined, without building each one.
        capitals = lexicon.capitals
        start = 0
        for size in sizes:
            picked[start] = capitals[picked[start]]
            start += size
            picked[start - 1] += "."
        return " ".join(picked)

    def _lexicon(self, locale: str) -> _Lexicon:
        words = self.vocabulary(locale)
        capitals = {w: w[:1].upper() + w[1:] for w in words}
        lexicon = self._lexicons[locale] = _Lexicon(words, float(len(words)), capitals)
        return lexicon


class _Lexicon(NamedTuple):
    """A locale's words as prose draws them."""

    words: tuple[str, ...]
    scale: float  # len(words) as a float: random() times it, floored, picks a word (choices)
    capitals: dict[str, str]  # each word with its first letter in upper case


class Engine:
    """Turns a ChatRequest into a ChatResult, deterministically."""

    def __init__(self, seeds: Seeds, tool_calls: ToolPolicy = "named") -> None:
        self.seeds = seeds
        self.tool_calls = tool_calls  # when an unforced tool call is made (ToolPolicy)
        self.writer = Writer()
        # A model's conversation digests, "chat" and its id hashed once (Seeds.digester)
        self._chat_digests: dict[str, Callable[..., bytes]] = {}

    def conversation_digest(self, request: ChatRequest) -> bytes:
        """seeds.digest("chat", model id, the transcript, the request's seed)."""
        model = request.model.id
        digest = self._chat_digests.get(model)
        if digest is None:
            digest = self._chat_digests[model] = self.seeds.digester("chat", model)
        return digest(_transcript(request), request.seed)

    def complete(
        self,
        request: ChatRequest,
        input_tokens: int | None = None,
        cache: CacheUse | None = None,
        digest: bytes | None = None,
    ) -> ChatResult:
        """The answer; `input_tokens` saves a recount when the caller already has it, `digest`
        (the request's conversation_digest) a second digest; `cache` is what the context cache
        did for this prompt (None: the cache is off). The answer itself never depends on the
        cache, only the usage does."""
        if digest is None:
            digest = self.conversation_digest(request)
        if input_tokens is None:
            input_tokens = tokens.prompt_tokens(request.messages, request.tools)
        locale = _locale(request.messages)
        if request.n == 1:  # the usual request: one choice, without a generator for it
            choices: tuple[Completion, ...] = (
                self._choice(request, digest, 0, locale, input_tokens),
            )
        else:
            choices = tuple(
                self._choice(request, digest, index, locale, input_tokens)
                for index in range(request.n)
            )
        return _result(choices, input_tokens, cache)

    def scripted(
        self,
        request: ChatRequest,
        script: Script,
        input_tokens: int,
        cache: CacheUse | None,
        digest: bytes | None = None,
    ) -> ChatResult:
        """A scenario's scripted answer, shaped and counted like a generated one: the text is
        cut at `max_tokens`, tool calls get ids, usage counts what is said."""
        if digest is None:
            digest = self.conversation_digest(request)
        choices = []
        for index in range(request.n):
            calls = tuple(
                ToolCall(
                    id="call_" + self.seeds.hex(24, digest, "tool", index, number),
                    name=name,
                    arguments=json.dumps(arguments, ensure_ascii=False),
                )
                for number, (name, arguments) in enumerate(script.tool_calls)
            )
            cap = request.max_tokens if request.max_tokens is not None else 1 << 30
            text, truncated = _cut(script.text, cap)
            finish: FinishReason = "tool_calls" if calls else ("length" if truncated else "stop")
            # Scripted thinking is said only where the request thinks, as a model would.
            thinking = script.thinking if request.thinking else ""
            signature = self._sig(digest) if thinking else ""
            choices.append(Completion(text, thinking, calls, finish, signature=signature))
        return _result(tuple(choices), input_tokens, cache)

    def _choice(
        self, request: ChatRequest, digest: bytes, index: int, locale: str, input_tokens: int
    ) -> Completion:
        rng = random.Random(digest + index.to_bytes(4, "big"))  # one stream per choice
        answer_cap = request.max_tokens if request.max_tokens is not None else 1 << 30

        reasoning = ""
        piece_seed = rng.getrandbits(64)
        if request.thinking:
            budget = request.thinking_budget or request.model.max_thinking_budget
            if request.max_tokens_cover_thinking:
                budget = min(budget, answer_cap)
            reasoning, _ = _cut(self.writer.prose(locale, rng, randint(rng, 20, 70)), budget)
            if request.max_tokens_cover_thinking:
                answer_cap -= tokens.count(reasoning)

        # (with no tools offered there is none to pick, and picking draws nothing)
        tool = _pick_tool(request, rng, self.tool_calls) if request.tools else None
        if tool is not None and answer_cap > 0:
            call, cut = self._tool_call(request, tool, digest, index, rng, answer_cap)
            signature = self._sig(digest) if reasoning else ""
            if call is None:  # not even the name and `{}` fit: cut before anything was said
                return Completion(
                    "", reasoning, (), "length", signature=signature, piece_seed=piece_seed
                )
            return Completion(
                "",
                reasoning,
                (call,),
                "length" if cut else "tool_calls",
                signature=signature,
                piece_seed=piece_seed,
            )

        text, short = self._answer_text(request, rng, locale, input_tokens)
        finish: FinishReason = "length" if short else "stop"
        stop_sequence = None
        for stop in request.stop:
            at = text.find(stop) if stop else -1
            if at >= 0 and (stop_sequence is None or at < text.find(stop_sequence)):
                stop_sequence = stop
        if stop_sequence is not None:
            text = text[: text.find(stop_sequence)]
        text, truncated = _cut(text, max(answer_cap, 0))
        if truncated:
            finish, stop_sequence = "length", None
        signature = self._sig(digest) if reasoning else ""
        return Completion(text, reasoning, (), finish, stop_sequence, signature, piece_seed)

    def _answer_text(
        self, request: ChatRequest, rng: random.Random, locale: str, input_tokens: int
    ) -> tuple[str, bool]:
        """The answer before `stop` and `max_tokens` cut it, and whether it is already short of
        what was asked (a JSON instance bigger than the model could ever write)."""
        fmt = request.response_format
        if fmt.kind != "text":
            # Imported by the first JSON answer or tool call, not at start: 8 ms of a start
            # compiled from source (1 ms from bytecode) that a text answer never uses.
            from emulator.engine.schema_faker import SchemaFaker

            schema = fmt.schema if fmt.kind == "json_schema" and fmt.schema else _JSON_OBJECT_SCHEMA
            fake = self.writer.faker(locale, rng.getrandbits(64))
            faker = SchemaFaker(schema, rng, fake, _json_budget(request))
            return json.dumps(faker.instance(), ensure_ascii=False), faker.exhausted
        words = randint(rng, 12, 48) + min(150, input_tokens // 200)
        return self.writer.prose(locale, rng, words), False

    def _tool_call(
        self,
        request: ChatRequest,
        tool: ToolSpec,
        digest: bytes,
        index: int,
        rng: random.Random,
        cap: int,
    ) -> tuple[ToolCall | None, bool]:
        """The call, and whether `cap` cut its arguments (then closed again, so they stay JSON:
        json_cut); None when not even the name and `{}` fit in `cap`."""
        from emulator.engine.json_cut import cut_json  # as SchemaFaker (_answer_text)
        from emulator.engine.schema_faker import SchemaFaker

        fake = self.writer.faker("en_US", rng.getrandbits(64))
        faker = SchemaFaker(tool.schema or {"type": "object"}, rng, fake, _json_budget(request))
        arguments = faker.instance()
        if not isinstance(arguments, dict):
            arguments = {}
        text = json.dumps(arguments, ensure_ascii=False)
        room = cap - tokens.count(tool.name)  # the name is said too, and counted (_answer_tokens)
        if room < 2:
            return None, True
        fitted = cut_json(text, room)
        call = ToolCall(
            id="call_" + self.seeds.hex(24, digest, "tool", index),
            name=tool.name,
            arguments=fitted,
        )
        return call, faker.exhausted or len(fitted) < len(text)

    def _sig(self, digest: bytes) -> str:
        return self.seeds.hex(64, digest, "signature")


def _transcript(request: ChatRequest) -> str:
    """What the conversation's digest hashes: _TRANSCRIPT([messages, tool names]), each message
    as [role, text, [[name, arguments] of its tool calls], tool_call_id]. The same text, with
    a message without tool calls (the usual one) written straight into its frame instead of
    built as a list for the encoder to walk (tests/test_seeds.py holds the two equal)."""
    said = []
    for m in request.messages:
        if m.tool_calls:
            calls = [[c.name, c.arguments] for c in m.tool_calls]
            said.append(_TRANSCRIPT([m.role, m.text, calls, m.tool_call_id]))
        else:  # (a role is one of four plain words: nothing to escape)
            call_id = "null" if m.tool_call_id is None else _string(m.tool_call_id)
            said.append(f'["{m.role}", {_string(m.text)}, [], {call_id}]')
    tools = _TRANSCRIPT([t.name for t in request.tools]) if request.tools else "[]"
    return f"[[{', '.join(said)}], {tools}]"


def _pick_tool(request: ChatRequest, rng: random.Random, policy: ToolPolicy) -> ToolSpec | None:
    """The tool to call, or None to answer in text."""
    choice = request.tool_choice
    if not request.tools or choice.mode == "none":
        return None
    if choice.mode == "required" and any(m.role == "tool" for m in request.messages):
        final = next((t for t in request.tools if _is_final_answer(t.name)), None)
        if final is not None:
            return final
    if choice.mode == "named":
        return next((t for t in request.tools if t.name == choice.name), None)
    # System entries inside the conversation (agent tools append environment notes) are not turns.
    last = next((m for m in reversed(request.messages) if m.role != "system"), None)
    users_turn = last is not None and last.role == "user"
    said = _REMINDERS.sub("", last.text) if last is not None and users_turn else ""
    named = _named_tool(request.tools, said) if said else None
    if named is not None:
        return named
    if choice.mode == "required" or (users_turn and policy == "always"):
        return rng.choice(request.tools)
    return None


def _is_final_answer(name: str) -> bool:
    return re.sub(r"[\s_-]+", "", name).lower() in _FINAL_ANSWER_KEYS


def _named_tool(tools: tuple[ToolSpec, ...], said: str) -> ToolSpec | None:
    """The tool `said` names first, if any: its name as a whole word, any case, with spaces or
    hyphens for its underscores ("read file" names read_file); on a tie, the longer name."""
    found = [
        (at, -len(t.name), n) for n, t in enumerate(tools) if (at := _mention(t.name, said)) >= 0
    ]
    return tools[min(found)[2]] if found else None


def _mention(name: str, said: str) -> int:
    """Where `said` first names the tool `name`, or -1."""
    match = _name_pattern(name).search(said) if name else None
    return match.start() if match else -1


@functools.lru_cache(maxsize=1024)
def _name_pattern(name: str) -> re.Pattern[str]:
    # ASCII word edges, so a name inside Chinese or Japanese text still counts as a word.
    parts = [re.escape(part) for part in re.split(r"[\s_-]+", name) if part]
    body = r"[\s_-]+".join(parts) or re.escape(name)
    return re.compile(rf"(?<![A-Za-z0-9_]){body}(?![A-Za-z0-9_])", re.IGNORECASE)


def _json_budget(request: ChatRequest) -> int:
    """Characters a generated JSON instance may take: more than the model's longest answer
    could hold (so the instance, not the budget, decides what `max_tokens` cuts, and a cut
    answer is a prefix of the uncut one), yet a bound on the work whatever the schema asks."""
    return JSON_CHARS_PER_TOKEN * request.model.max_output


def _cut(text: str, cap: int) -> tuple[str, bool]:
    """`text` cut to at most `cap` tokens, and whether it was cut."""
    if tokens.fits(text, cap):  # nothing to cut, nothing to count
        return text, False
    end = tokens.cut_point(text, max(cap, 0))
    return (text, False) if end is None else (text[:end], True)


@functools.cache
def _cjk() -> re.Pattern[str]:
    """Kana, CJK ideographs and Hangul; compiled when a message is first not ASCII, not at
    start: for ranges this wide the compiler fills a map of the whole BMP a character at a
    time (3-7 ms, the costliest pattern of a start)."""
    return re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _locale(messages: tuple[Message, ...]) -> str:
    last = ""
    for message in reversed(messages):  # the last user message that says something
        if message.role == "user" and message.text:
            last = message.text
            break
    if last.isascii():
        return "en_US"
    visible = [c for c in last if not c.isspace()]
    if visible and len(_cjk().findall(last)) / len(visible) > 0.3:
        return "zh_CN"
    return "en_US"


def _result(
    choices: tuple[Completion, ...], input_tokens: int, cache: CacheUse | None
) -> ChatResult:
    if len(choices) == 1:  # the usual answer: one choice, no generators to sum
        said = choices[0].reasoning
        reasoning = tokens.count(said) if said else 0  # (usually none: no call)
        answer = _answer_tokens(choices[0])
    else:
        reasoning = sum(tokens.count(c.reasoning) for c in choices)
        answer = sum(_answer_tokens(c) for c in choices)
    # (positional, in Usage's field order: a class called with keywords passes them in a dict
    # its __init__ then unpacks, several times the cost of the same call without;
    # tests/test_records.py holds the order)
    if cache is None:
        usage = Usage(input_tokens, answer + reasoning, reasoning)
    else:
        explicit = cache.mode == "explicit"
        usage = Usage(
            input_tokens, answer + reasoning, reasoning, cache.read, cache.created, explicit
        )
    return ChatResult(choices, usage)


def _answer_tokens(choice: Completion) -> int:
    """Output tokens of a choice besides its reasoning: its text and its tool calls."""
    if not choice.tool_calls:
        return tokens.count(choice.text)
    calls = sum(tokens.count(c.name) + tokens.count(c.arguments) for c in choice.tool_calls)
    return tokens.count(choice.text) + calls
