"""The seeded draws the engine makes inline draw exactly what `random.Random` draws: the same
seed keeps giving the same words, whatever the shortcut."""

from __future__ import annotations

import random

from emulator.engine.generate import Writer
from emulator.seeds import Seeds, randint


def test_randint_draws_what_random_randint_draws() -> None:
    for seed in range(200):
        ours, theirs = random.Random(seed), random.Random(seed)
        for low, high in ((6, 14), (12, 48), (20, 70), (1, 1), (0, 1), (1, 4), (5, 2**40)):
            assert randint(ours, low, high) == theirs.randint(low, high)
        assert ours.getstate() == theirs.getstate()  # and leave the generator where it would


def test_a_request_id_is_the_uuid_of_its_parts() -> None:
    """`request_id` hashes its first parts once: the same id as `uuid("request", ...)`."""
    cases = [
        ("POST", "/compatible-mode/v1/chat/completions", b'{"model":"m"}', 1777593600.0, 0),
        ("GET", "/apps/anthropic/v1/models?x=\udcff", b"", 1777593600.123456, 12345),
        ("POST", "/路径", "文".encode() * 500, 0.0, 2**40),
    ]
    for seed in (0, 42, 2**63 - 1):
        seeds = Seeds(seed)
        for parts in cases:
            assert seeds.request_id(*parts) == seeds.uuid("request", *parts)
    assert Seeds(42).request_id(*cases[0]) == "e417e875-2ed8-dc63-80a6-e9c7b4135f61"  # as before


def _reference_prose(writer: Writer, locale: str, rng: random.Random, words: int) -> str:
    """The prose as Faker's sentence() makes it: randint for each sentence's length, then
    choices over the word list (the engine's first, plain version)."""
    vocabulary = writer.vocabulary(locale)
    sizes: list[int] = []
    while sum(sizes) < words:
        sizes.append(rng.randint(6, 14))
    picked = rng.choices(vocabulary, k=sum(sizes))
    sentences, start = [], 0
    for size in sizes:
        part = picked[start : start + size]
        start += size
        if locale == "zh_CN":
            sentences.append("".join(part) + rng.choice("。。。，！？"))
        else:
            text = " ".join(part)
            sentences.append(text[:1].upper() + text[1:] + ".")
    return ("" if locale == "zh_CN" else " ").join(sentences)


def test_prose_is_fakers_sentences_word_for_word() -> None:
    writer = Writer()
    for locale in ("en_US", "zh_CN"):
        for seed in range(100):
            words = 1 + seed % 70
            ours, theirs = random.Random(seed), random.Random(seed)
            expected = _reference_prose(writer, locale, theirs, words)
            assert writer.prose(locale, ours, words) == expected
            assert ours.getstate() == theirs.getstate()


def test_a_conversation_digest_hashes_the_transcript_json_dumps_writes() -> None:
    """The digest's transcript, partly written by hand, is the generic encoder's text: the
    conversation, and so every answer drawn from its digest, is unchanged."""
    import json

    from emulator.catalog import default_catalog
    from emulator.engine.generate import _transcript
    from emulator.engine.types import ChatRequest, Message, ToolCall, ToolSpec

    model = default_catalog().text_model("qwen3.6-plus")
    assert model is not None
    call = ToolCall("call_1", "read_file", '{"path": "a \\"b\\".txt"}')
    conversations = [
        (Message("user", "Write one short paragraph about the sea."),),
        (
            Message("system", 'Be "brief"\n\t\\ \x00\x1f \u2028 é 中 😀'),
            Message("user", ""),
            Message("assistant", "", (call, ToolCall("", "ls", "{}"))),
            Message("tool", "a.txt\nb.txt", tool_call_id='call_"1"'),
            Message("assistant", "said", (call,), tool_call_id="x"),
            Message("user", "\ud800 lone", tool_call_id=""),
        ),
    ]
    tool_sets = [(), (ToolSpec("read_file", "", {}), ToolSpec('we"ird é', "d", {}))]
    for messages in conversations:
        for tools in tool_sets:
            request = ChatRequest("openai", model, messages, tools)
            transcript = [
                [m.role, m.text, [[c.name, c.arguments] for c in m.tool_calls], m.tool_call_id]
                for m in messages
            ]
            names = [t.name for t in tools]
            expected = json.dumps([transcript, names], ensure_ascii=False)
            assert _transcript(request) == expected


def test_a_digester_digests_what_digest_does() -> None:
    """`digester` hashes its first parts once: the same digest as `digest` of all the parts,
    and so the same conversation digest the engine always drew its answers from."""
    from emulator.catalog import default_catalog
    from emulator.engine.generate import Engine, _transcript
    from emulator.engine.types import ChatRequest, Message

    for seed in (0, 42, 2**63 - 1):
        seeds = Seeds(seed)
        for first, rest in (
            (("chat", "qwen3.6-plus"), ("[[]]", None)),
            (("chat", "模型"), ("\ud800 lone", 7)),
            ((), ("a", b"\x00b", 3.5)),
        ):
            assert seeds.digester(*first)(*rest) == seeds.digest(*first, *rest)
    model = default_catalog().text_model("qwen3.6-plus")
    assert model is not None
    engine = Engine(Seeds(42))
    for request_seed in (None, 5):
        request = ChatRequest("openai", model, (Message("user", "Hi"),), seed=request_seed)
        expected = engine.seeds.digest("chat", model.id, _transcript(request), request_seed)
        assert engine.conversation_digest(request) == expected
        assert engine.conversation_digest(request) == expected  # (its digester, remembered)


def _reference_pieces(text: str, rng: random.Random) -> list[str]:
    """A stream's pieces as the walk first drew them: randint(1, 4) tokens a cut."""
    from emulator.engine.tokens import token_ends

    ends = token_ends(text)
    last, start, pieces = len(ends) - 1, 0, []
    at = rng.randint(1, 4) - 1 if ends else 0
    while at < last:
        if ends[at] > start:
            pieces.append(text[start : ends[at]])
            start = ends[at]
            at += rng.randint(1, 4)
        else:
            at += 1
    return pieces + ([text[start:]] if start < len(text) else [])


def test_stream_pieces_draw_what_randint_draws() -> None:
    from emulator.engine.tokens import stream_pieces

    writer = Writer()
    texts = ["", "a", "中文，你好！" * 5, "😀😀 x😀 é" * 9, "The quick brown fox " * 30]
    texts += [writer.prose(("en_US", "zh_CN")[n % 2], random.Random(n), 5 + n) for n in range(40)]
    for text in texts:
        for seed in range(10):
            ours, theirs = random.Random(seed), random.Random(seed)
            assert list(stream_pieces(text, ours)) == _reference_pieces(text, theirs)
            assert ours.getstate() == theirs.getstate()
