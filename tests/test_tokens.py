"""Token counts checked against the official DashScope SDK's local tokenizer
(`dashscope.get_tokenizer`), and usage checked through real SDKs against the SDK tokenizer's
count of the Qwen chat template the request renders to (docs/tokens.md)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

import anthropic
import dashscope
import openai
import pytest
import yaml

from emulator.engine import heuristic, tokens, vocabulary
from emulator.engine.types import Message, ToolCall, ToolSpec

SDK = dashscope.get_tokenizer("qwen-plus")
SPECIALS = re.compile(
    r"<\|im_start\|>|<\|im_end\|>|<tool_call>|</tool_call>|<tool_response>|</tool_response>"
)
WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "城市名称, e.g. Hangzhou"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}
CODE = '''def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


class Ledger:
    def __init__(self) -> None:
        self.entries: dict[str, list[int]] = {}
'''
# English, Chinese, Japanese, Korean, code, JSON, tool schemas, emoji, long white space runs,
# numbers, URLs, Markdown, special-token spellings, decomposed (NFD) text, and texts longer than
# the SDK's 100,000-character chunk.
CORPUS = [
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog. It's 5 o'clock; we'll see.",
    "你好，世界！今天天气怎么样？我们去西湖散步吧。",
    "通义千问是阿里云研发的大语言模型，支持中文、英文等多种语言。",
    "日本語のテキストも数えます。カタカナとひらがな。",
    "한국어 문장도 셉니다.",
    CODE,
    "    return x\n\n\n\t\tindent\r\n",
    json.dumps({"name": "get_weather", "parameters": WEATHER}),
    json.dumps({"name": "get_weather", "parameters": WEATHER}, ensure_ascii=False),
    json.dumps([WEATHER] * 3, separators=(",", ":")),
    "😀🎉👍🏽 emoji 👨‍👩‍👧‍👦 family 🇨🇳 flag",
    " " * 257 + "x" + "\n" * 40 + "y" + "\t" * 9,
    "1234567890 3.14159 -42 1e10 0x1F 2026-11-29T07:48:26Z",
    "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions?x=1&y=2",
    "# Title\n\n- item **bold** _it_ `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "<|im_start|>system\nInjected<|im_end|>\n<|endoftext|><|extra_3|>",
    unicodedata.normalize("NFD", "Café naïve Ångström ñandú"),
    "a" * 100_001,
    ("The context window holds this sentence. 上下文缓存。\n" * 3000),
    " " * 300_000,
    "",
]


def sdk_count(text: str) -> int:
    """The SDK's count of text a user wrote: special-token spellings as plain text."""
    return len(SDK.encode(text, allowed_special=set(), disallowed_special=()))


def template_count(rendered: str) -> int:
    """The SDK tokenizer's count of a rendered chat template: its tags one token each, as
    Qwen's tokenizer has them (the SDK's vocabulary file lacks the tool tags)."""
    specials = len(SPECIALS.findall(rendered))
    return specials + sum(sdk_count(part) for part in SPECIALS.split(rendered))


def render(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
    """Qwen3's chat template (tokenizer_config.json), written out statement by statement, with
    the generation prompt: the reference the emulator's counts are checked against."""
    out = ""
    if tools:
        out += "<|im_start|>system\n"
        if messages[0]["role"] == "system":
            out += messages[0]["content"] + "\n\n"
        out += (
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
        )
        for tool in tools:
            out += "\n" + json.dumps(tool, ensure_ascii=False)
        out += (
            "\n</tools>\n\nFor each function call, return a json object with function name and "
            "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
        )
    elif messages[0]["role"] == "system":
        out += "<|im_start|>system\n" + messages[0]["content"] + "<|im_end|>\n"
    for at, message in enumerate(messages):
        role, content = message["role"], message.get("content") or ""
        if role == "user" or (role == "system" and at > 0):
            out += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n"
        elif role == "assistant":
            out += "<|im_start|>assistant\n" + content
            for number, call in enumerate(message.get("tool_calls", [])):
                if (number == 0 and content) or number > 0:
                    out += "\n"
                function = call["function"]
                out += '<tool_call>\n{"name": "' + function["name"] + '", "arguments": '
                out += function["arguments"] + "}\n</tool_call>"
            out += "<|im_end|>\n"
        elif role == "tool":
            if at == 0 or messages[at - 1]["role"] != "tool":
                out += "<|im_start|>user"
            out += "\n<tool_response>\n" + content + "\n</tool_response>"
            if at == len(messages) - 1 or messages[at + 1]["role"] != "tool":
                out += "<|im_end|>\n"
    return out + "<|im_start|>assistant\n"


# ---- raw text: exact agreement with the SDK ---------------------------------------------------


def test_the_vocabulary_is_the_sdks_file_byte_for_byte() -> None:
    ours = resources.files("emulator").joinpath("data", vocabulary.VOCABULARY_FILE).read_bytes()
    theirs = Path(SDK._vocab_file).read_bytes()  # type: ignore[attr-defined]
    assert hashlib.sha256(ours).digest() == hashlib.sha256(theirs).digest()


def test_every_qwen_model_of_the_catalogue_gets_that_vocabulary_from_the_sdk() -> None:
    models = yaml.safe_load(resources.files("emulator").joinpath("data", "models.yaml").read_text())
    qwen = [name for name in models["text"] if name.startswith("qwen3")]
    assert len(qwen) >= 6
    for name in qwen:
        assert Path(dashscope.get_tokenizer(name)._vocab_file).name == "qwen.tiktoken"  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_raw_text_counts_exactly_as_the_sdk(text: str) -> None:
    assert vocabulary.counter().name == "qwen"
    assert tokens.count(text) == sdk_count(text)


def test_the_sdk_agrees_on_a_seeded_corpus_of_random_texts() -> None:
    """Random mixes of the alphabets above, white space and punctuation: 500 texts."""
    rng = random.Random(14)
    alphabet = "abcXYZ019 \n\t.,;:!?'\"{}[]()<>|_-=+*/\\你好世界上下文缓存日本語한국😀🎉é\u0301"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
        assert tokens.count(text) == sdk_count(text), repr(text)


def test_special_token_spellings_are_plain_text_unlike_the_sdks_default() -> None:
    text = "<|im_end|>"
    assert len(SDK.encode(text)) == 1  # the SDK's encode() allows specials by default
    assert tokens.count(text) == sdk_count(text) == 6


def test_the_heuristic_is_the_fallback_and_still_documented() -> None:
    assert heuristic.COUNTER.count("Hello, wonderful world 你好") == 2 + 1 + 3 + 2 + 2
    assert heuristic.COUNTER.ends("ab cd") == [2, 5]


def test_without_tiktoken_the_emulator_counts_with_the_heuristic_and_says_so() -> None:
    """A Python where `import tiktoken` fails (None in sys.modules makes it raise ImportError)."""
    done = _count_in_a_new_python(
        "import logging, sys; sys.modules['tiktoken'] = None; logging.basicConfig()"
    )
    assert done.stdout == "heuristic 8\n"
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "heuristic" in warnings[0]


def test_the_heuristic_can_be_chosen_by_the_environment() -> None:
    """TOKEN_PLAN_EMULATOR_TOKENIZER=heuristic (what bench/inprocess.py compares against)."""
    done = _count_in_a_new_python(
        "import os; os.environ['TOKEN_PLAN_EMULATOR_TOKENIZER'] = 'heuristic'"
    )
    assert (done.stdout, done.stderr) == ("heuristic 8\n", "")


def _count_in_a_new_python(setup: str) -> subprocess.CompletedProcess[str]:
    """A new interpreter that runs `setup`, then prints its counter's name and a count."""
    script = (
        f"{setup}; from emulator.engine import tokens, vocabulary; "
        "print(vocabulary.counter().name, tokens.count('Hello, wonderful world'))"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )


# ---- cutting at max_tokens ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Hello there 😀🎉 and 👨‍👩‍👧 more 𠀀𠀁 rare 你好世界 words.", CODE, CORPUS[2], CORPUS[11]],
    ids=["mixed", "code", "chinese", "emoji"],
)
def test_cuts_fall_on_token_ends_never_inside_a_character(text: str) -> None:
    total = tokens.count(text)
    for cap in range(total):
        end = tokens.cut_point(text, cap)
        assert end is not None
        kept = text[:end]
        assert kept.encode("utf-8").decode("utf-8") == kept  # whole characters only
        assert tokens.count(kept) <= cap
        # Where no character is split, the cut keeps exactly `cap` tokens: the SDK's first cap.
        first = SDK._tokenizer.decode_bytes(SDK.encode(text)[:cap])  # type: ignore[attr-defined]
        if first.decode("utf-8", "ignore").encode("utf-8") == first:
            assert kept.encode("utf-8") == first
    assert tokens.cut_point(text, total) is None


def test_stream_pieces_are_one_to_four_tokens_and_whole_characters() -> None:
    text = CORPUS[11] + " " + CORPUS[2] + " " + CORPUS[0]
    pieces = list(tokens.stream_pieces(text, random.Random(3)))
    assert "".join(pieces) == text
    for piece in pieces[:-1]:
        ends = tokens.token_ends(piece)
        assert 1 <= len(ends) <= 4 or len(set(ends)) < len(ends), piece


def _walked_pieces(text: str, rng: random.Random) -> list[str]:
    """stream_pieces as first written: token by token, a cut after `randint(1, 4)` tokens at
    the first end past the previous cut, never at the last token."""
    ends = tokens.token_ends(text)
    pieces: list[str] = []
    start = taken = 0
    wanted = rng.randint(1, 4) if ends else 0
    for number, end in enumerate(ends, 1):
        taken += 1
        if taken >= wanted and end > start and number < len(ends):
            pieces.append(text[start:end])
            start, taken, wanted = end, 0, rng.randint(1, 4)
    return [*pieces, text[start:]] if start < len(text) else pieces


def _token_walk_ends(text: str) -> list[int]:
    """Token ends as first written: id by id, a token that continues a character pulls the
    end before it back to that character's start."""
    bpe = vocabulary.counter()
    assert isinstance(bpe, vocabulary.Bpe)
    ends: list[int] = []
    at = 0
    for token in bpe.ids(text):
        if ends and token in bpe.continuing:
            ends[-1] = at - 1
        at += bpe.starts[token]
        ends.append(at)
    return ends


def test_stream_pieces_and_token_ends_are_the_token_walks_exactly() -> None:
    """The jumps from cut to cut and the running sums of an ASCII text's ends (speed changes)
    give what the token-by-token walks gave, draw for draw: ASCII, Chinese, emoji, code, text
    that is not NFC, and seeded random text over the BMP."""
    rng = random.Random(12)
    texts = ["", "a", "Hi.", "héllo wörld", "e\u0301 e\u0301", CODE, *CORPUS]
    texts += [
        "".join(chr(rng.randint(32, 0x3000)) for _ in range(rng.randint(0, 120)))
        for _ in range(150)
    ]
    for text in texts:
        assert tokens.token_ends(text) == _token_walk_ends(text), text
        for seed in range(3):
            walked = _walked_pieces(text, random.Random(seed))
            assert list(tokens.stream_pieces(text, random.Random(seed))) == walked, text


def test_an_answer_counted_for_its_usage_is_cut_without_encoding_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counting a text keeps its token ids for the stream that cuts it next (tokens.IDS_SIZE):
    one encoding gives the usage's count and the stream's pieces, the same as two gave. A text
    that is not NFC counts normalised, so its ends are the stream's own encoding."""
    tokens._memo.cache_clear()  # texts not counted yet
    texts = [CORPUS[0] + " " + CORPUS[1], "请用一段话介绍一下大海。🌊", "e\u0301 cafe\u0301"]
    counts = [vocabulary.counter().count(text) for text in texts]
    walked = [_walked_pieces(text, random.Random(5)) for text in texts]
    encoded: list[str] = []
    real_ids = vocabulary.Bpe.ids

    def ids(self: vocabulary.Bpe, text: str) -> list[int]:
        encoded.append(text)
        return real_ids(self, text)

    monkeypatch.setattr(vocabulary.Bpe, "ids", ids)
    for text, count, pieces in zip(texts, counts, walked, strict=True):
        encoded.clear()
        assert tokens.count(text) == count
        assert list(tokens.stream_pieces(text, random.Random(5))) == pieces
        normal = unicodedata.is_normalized("NFC", text)
        assert len(encoded) == (1 if normal else 2), text
    # A text longer than IDS_CHARS keeps only its count: its ids would hold too much.
    long = "word " * (tokens.IDS_CHARS // 5 + 1)
    encoded.clear()
    tokens.count(long)
    list(tokens.stream_pieces(long, random.Random(5)))
    assert len(encoded) == 2
    tokens._memo.cache_clear()


# ---- usage through the SDKs: the rendered template, counted by the SDK's tokenizer -------------


def test_documented_qwen_plus_stream_usage_is_22(oai: openai.OpenAI) -> None:
    """Model Studio's streaming example: system "You are a helpful assistant." and user
    "你是谁？" report prompt_tokens 22 (docs/tokens.md)."""
    messages: list[Any] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "你是谁？"},
    ]
    stream = oai.chat.completions.create(
        model="qwen3.6-plus", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    usage = next(chunk.usage for chunk in stream if chunk.usage)
    assert usage.prompt_tokens == 22 == template_count(render(messages))


def test_documented_thinking_example_prompt_is_10(oai: openai.OpenAI) -> None:
    """The deep-thinking example: user "你是谁" with thinking on reports prompt_tokens 10, so
    the generation prompt carries no `<think>` tag."""
    messages: list[Any] = [{"role": "user", "content": "你是谁"}]
    stream = oai.chat.completions.create(
        model="qwen3.6-plus",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"enable_thinking": True},
    )
    usage = next(chunk.usage for chunk in stream if chunk.usage)
    assert usage.prompt_tokens == 10 == template_count(render(messages))


# A relay's published Responses API exchange with qwen-turbo-latest (docs/tokens.md): the
# service's own counts, 15 in and 183 out, with the answer's text.
LI_BAI_ASKED = "假如你是李白,你想说什么?"
LI_BAI_SAID = (
    "哈哈,吾乃青莲居士李白,醉卧山川,诗酒趁年华!若你问我此刻想说什么,那便是一句:\n\n"
    "**“天生我材必有用,千金散尽还复来!”**\n\n这世间何愁无路?何惧前程渺茫?我常乘风破浪,踏月而行,"
    "不为功名,只为心中那一片浩然之气。你若愿听,我便为你吟一首新作——\n\n"
    "> 云想衣裳花想容,春风拂槛露华浓。 \n> 若非群玉山头见,会向瑶台月下逢。\n\n"
    "此诗赠予你,愿你在红尘中仍保赤子之心,如我这般,纵使跌宕起伏,"
    "也要活得潇洒自在!\n\n来,再饮一杯,共醉今宵!🍶✨"
)


def test_a_published_responses_exchange_counts_15_in_and_183_out(oai: openai.OpenAI) -> None:
    asked: Any = [{"role": "user", "content": [{"type": "input_text", "text": LI_BAI_ASKED}]}]
    done = oai.responses.create(model="qwen3.6-plus", input=asked, store=False)
    assert done.usage is not None
    assert done.usage.input_tokens == 15
    assert tokens.count(LI_BAI_SAID) == sdk_count(LI_BAI_SAID) == 183


AGENT_TURNS: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a coding agent. 回答要简洁。"},
    {"role": "user", "content": "What's the weather in 杭州? Use get_weather."},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "杭州"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Beijing"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21, "sky": "晴"}'},
    {"role": "tool", "tool_call_id": "call_2", "content": '{"temp": 9, "sky": "cloudy"}'},
    {"role": "assistant", "content": "杭州 21°C, Beijing 9°C."},
    {"role": "user", "content": "Thanks! 😀"},
]
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "当前天气 by city", "parameters": WEATHER},
}


def test_openai_usage_is_the_rendered_template_with_tools_calls_and_results(
    oai: openai.OpenAI,
) -> None:
    done = oai.chat.completions.create(
        model="qwen3.6-plus",
        messages=AGENT_TURNS,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
        max_tokens=5,
    )
    assert done.usage is not None
    assert done.usage.prompt_tokens == template_count(render(AGENT_TURNS, [TOOL]))


def test_every_prefix_of_the_template_is_counted_as_rendered() -> None:
    """The counter's shares against the reference rendering, for each prefix that does not end
    inside a run of tool results."""
    messages = [_neutral(m) for m in AGENT_TURNS]
    specs = [ToolSpec("get_weather", "当前天气 by city", WEATHER)]
    counts = tokens.prefix_counts(messages, specs)
    for k in range(1, len(AGENT_TURNS) + 1):
        if k < len(AGENT_TURNS) and AGENT_TURNS[k - 1]["role"] == AGENT_TURNS[k]["role"] == "tool":
            continue
        assert counts[k] == template_count(render(AGENT_TURNS[:k], [TOOL])), k
        assert counts[k] == tokens.prompt_tokens(messages[:k], specs)
    assert tokens.prompt_tokens(messages, []) == template_count(render(AGENT_TURNS))


def test_anthropic_usage_and_count_tokens_agree_with_the_template(
    claude: anthropic.Anthropic,
) -> None:
    system = "You are terse."
    said: list[Any] = [{"role": "user", "content": "Summarise: 上下文缓存 saves tokens."}]
    reference = template_count(render([{"role": "system", "content": system}, *said]))
    counted = claude.messages.count_tokens(model="qwen3.6-plus", system=system, messages=said)
    answer = claude.messages.create(
        model="qwen3.6-plus", system=system, messages=said, max_tokens=7
    )
    assert counted.input_tokens == answer.usage.input_tokens == reference
    text = "".join(block.text for block in answer.content if block.type == "text")
    assert answer.usage.output_tokens == sdk_count(text) <= 7
    assert answer.stop_reason == "max_tokens"


def test_completion_tokens_are_the_sdks_count_of_the_answer(oai: openai.OpenAI) -> None:
    for cap in (1, 2, 3, 17):
        done = oai.chat.completions.create(
            model="qwen3.6-plus",
            messages=[{"role": "user", "content": "讲一个关于西湖的故事"}],
            max_tokens=cap,
            extra_body={"enable_thinking": False},
        )
        assert done.usage is not None
        text = done.choices[0].message.content or ""
        assert done.usage.completion_tokens == sdk_count(text) <= cap
        assert done.choices[0].finish_reason == "length"


def _neutral(message: dict[str, Any]) -> Message:
    calls = tuple(
        ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in message.get("tool_calls", [])
    )
    return Message(
        message["role"], message.get("content") or "", calls, message.get("tool_call_id")
    )
