"""How to test a stream that is cut halfway.

The catalogue scenario `stream-cut` closes every streaming response after 3 chunks, with no final
chunk and no `[DONE]`, as a dropped connection does; requests that do not stream are answered
normally. The OpenAI SDK raises `openai.APIConnectionError` while the tool iterates (the Anthropic
SDK lets its HTTP client's transport error through). Check what your tool does with what had
arrived: here it keeps the partial text and says the answer is incomplete.

The emulator's text is a function of the seed and the request, so the partial text is exactly
the start of the answer the same request gets without streaming.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai
import pytest

from emulator.testing import TokenPlan

PROMPT = [{"role": "user", "content": "Tell me a long story."}]
NO_THINKING = {"enable_thinking": False}  # qwen3.6-plus thinks by default: text from chunk 2


@dataclass
class Answer:
    text: str
    complete: bool


def stream_answer(client: openai.OpenAI) -> Answer:
    """The tool's code under test: print as it comes, keep what arrived if the stream breaks."""
    parts: list[str] = []
    try:
        stream = client.chat.completions.create(
            model="qwen3.6-plus", messages=PROMPT, stream=True, extra_body=NO_THINKING
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
    except openai.APIConnectionError:
        return Answer("".join(parts), complete=False)
    return Answer("".join(parts), complete=True)


@pytest.mark.token_plan(scenario="stream-cut")
def test_the_partial_text_is_what_arrived(token_plan: TokenPlan) -> None:
    client = openai.OpenAI(**token_plan.openai_kwargs(max_retries=0))

    answer = stream_answer(client)

    assert not answer.complete
    assert answer.text
    whole = client.chat.completions.create(
        model="qwen3.6-plus", messages=PROMPT, extra_body=NO_THINKING
    )
    full_text = whole.choices[0].message.content or ""
    assert full_text.startswith(answer.text) and full_text != answer.text
    cut, answered = token_plan.admin.journal()
    assert (cut["rule"], cut["error"]) == ("cut-stream", "fault:cut")
    assert answered["rule"] is None  # not streaming: answered normally


def test_without_the_fault_the_stream_completes(token_plan: TokenPlan) -> None:
    answer = stream_answer(openai.OpenAI(**token_plan.openai_kwargs(max_retries=0)))
    assert answer.complete and answer.text
