"""The Responses API (POST, GET and DELETE /compatible-mode/v1/responses): one text completion
with built-in tools, stored for 7 days for GET and `previous_response_id`
(docs/responses-api.md). Served on the Token Plan's and pay-as-you-go's OpenAI-compatible bases.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from emulator.call import CALL
from emulator.catalog import TextModel
from emulator.completion import complete, response_meta
from emulator.engine import builtin_tools, tokens
from emulator.engine.builtin_tools import ToolRun
from emulator.engine.stored_responses import RETENTION_SECONDS, StoredResponse
from emulator.engine.types import ChatRequest, Message
from emulator.errors import ApiError
from emulator.protocols import fields, openai_responses
from emulator.protocols.meta import ResponseMeta
from emulator.protocols.openai_responses import Stream
from emulator.runtime import RUNTIME, Runtime
from emulator.streaming import sse_response
from emulator.web import (
    ARRIVED,
    CALLER,
    REQUEST_ID,
    Answer,
    rendered_response,
)

PATH = "/responses"
# The service keeps about 20% of a model's window free and silently drops the oldest turns
# past that, rather than refusing the call (docs/responses-api.md).
WINDOW_SHARE = 0.8


def is_responses(path: str) -> bool:
    return PATH in path and path.split(PATH, 1)[0].endswith("/compatible-mode/v1")


def _json(request: web.Request, body: Any, status: int = 200) -> Answer:
    return rendered_response(request, openai_responses.dumps(body), status)


def _response_json(request: web.Request, final: dict[str, Any]) -> Answer:
    """A response object's answer (its usual shape written without the encoder's walk)."""
    return rendered_response(request, openai_responses.response_json(final))


def refusal(request: web.Request, error: ApiError) -> Answer:
    """A refused call in the flat body (the gateway's own refusals keep theirs)."""
    request[CALL].entry.error = error.kind.name
    body = openai_responses.error_body(error, request[REQUEST_ID])
    return rendered_response(request, fields.compact(body), error.status)


async def refuse(request: web.Request, error: ApiError) -> web.StreamResponse:
    """A refused streamed call is answered HTTP 200 with `response.failed`, as captured."""
    body = _lenient(request)
    if not openai_responses.stream_asked(body):
        return refusal(request, error)
    request[CALL].entry.error = error.kind.name
    model = body.get("model")
    meta = ResponseMeta(request[REQUEST_ID], int(request[ARRIVED]), str(model or ""))
    stream = Stream()
    frames = iter([stream.failed(error, None, meta)])
    return await sse_response(request, frames, lambda late, _: stream.failed(late, None, meta))


def _lenient(request: web.Request) -> dict[str, Any]:
    try:
        return fields.parse_object(request[CALL].body)
    except ApiError:
        return {}


def _model(runtime: Runtime, body: dict[str, Any]) -> TextModel:
    model_id = fields.model_id(body)
    model = runtime.catalog.text_model(model_id)
    if model is None or not model.speaks("openai"):
        raise ApiError("unsupported_model", model=model_id)
    return model


def _history(request: web.Request, body: dict[str, Any]) -> tuple[Message, ...]:
    previous = openai_responses.previous_id(body)
    if previous is None:
        return ()
    runtime = request.app[RUNTIME]
    stored = None
    if isinstance(previous, str):
        stored = runtime.responses.get(request[CALLER].plan, previous, request[ARRIVED])
    if stored is None:
        raise ApiError("previous_response_not_found", id=previous)
    return stored.conversation


def _fit(chat: ChatRequest) -> ChatRequest:
    """The conversation with its oldest turns dropped until it fits the window's share."""
    limit = min(chat.model.max_input, int(chat.model.context_window * WINDOW_SHARE))
    if _surely_fits(chat, limit):
        return chat  # (the completion counts the prompt: counting it here too cost 1 %)
    total = tokens.prompt_tokens(chat.messages, chat.tools)
    messages = list(chat.messages)
    while total > limit:
        oldest = next((i for i, m in enumerate(messages[:-1]) if m.role != "system"), None)
        if oldest is None:
            break  # only the last turn is left: the completion refuses it as too long
        total -= tokens.message_tokens(messages.pop(oldest))
    return chat if len(messages) == len(chat.messages) else replace(chat, messages=tuple(messages))


# Tokens a character may count at most: a token has at least a byte, a character has at most
# four in UTF-8, and a count normalises text to NFC first, which makes at most three
# characters of one. And a plain turn's frame: its special tokens, its role and newlines.
TOKENS_A_CHARACTER = 12
TOKENS_A_FRAME = 16


def _surely_fits(chat: ChatRequest, limit: int) -> bool:
    """Whether the prompt surely counts no more than `limit` tokens, without counting it: a
    conversation of plain text turns (no tools, tool calls or results, images), short against
    the limit."""
    if chat.tools:
        return False
    bound = TOKENS_A_FRAME  # the generation prompt
    for message in chat.messages:
        if message.tool_calls or message.images or message.role == "tool":
            return False
        bound += TOKENS_A_CHARACTER * len(message.text) + TOKENS_A_FRAME
    return bound <= limit


def _session_cached(request: web.Request, chat: ChatRequest) -> ChatRequest:
    """`x-dashscope-session-cache: enable` caches the prompt explicitly, up to its end."""
    if request.headers.get("x-dashscope-session-cache", "").lower() != "enable":
        return chat
    *earlier, last = chat.messages
    return replace(chat, messages=(*earlier, replace(last, cache_marked=True)))


async def create_response(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    body = fields.parse_object(request[CALL].body)
    model = _model(runtime, body)
    history = _history(request, body)
    parsed = openai_responses.parse(body, model, history)
    chat = _session_cached(request, _fit(parsed.chat))
    digest = runtime.engine.conversation_digest(chat)
    runs: tuple[ToolRun, ...] = ()
    if parsed.builtins:  # (most requests ask for none: no pass over them)
        enabled = tuple(kind for kind in parsed.builtins if kind in model.builtin_tools)
        runs = builtin_tools.run(enabled, chat.messages, digest, runtime.engine.writer)
    result = complete(request, chat, runs, digest)  # (the digest is the engine's: not twice)
    meta = response_meta(request, model)
    rendered = openai_responses.output_items(result, runs, meta.request_id)
    usage = openai_responses.usage_body(result.usage, runs)
    final = openai_responses.response_body(parsed, meta, rendered.items, rendered.status, usage)
    if parsed.store:
        said = Message("assistant", result.choices[0].text, result.choices[0].tool_calls)
        _keep(request, final, (*history, *parsed.turn, said))
    if chat.stream:
        stream = Stream()
        frames = stream.frames(parsed, meta, result, runs, final)
        return await sse_response(
            request, frames, lambda error, _: stream.failed(error, parsed, meta)
        )
    return _response_json(request, final)


def _keep(request: web.Request, final: dict[str, Any], conversation: tuple[Message, ...]) -> None:
    """Store the response: its object for GET, its conversation (without the instructions,
    which a later turn does not inherit) for `previous_response_id`."""
    arrived = request[ARRIVED]
    stored = StoredResponse(final, conversation, arrived + RETENTION_SECONDS)
    request.app[RUNTIME].responses.keep(request[CALLER].plan, final["id"], stored)


async def get_response(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    ident = request.match_info["response_id"]
    stored = runtime.responses.get(request[CALLER].plan, ident, request[ARRIVED])
    if stored is None:
        return _not_found(request, ident)
    return _json(request, stored.body)


async def delete_response(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    ident = request.match_info["response_id"]
    if not runtime.responses.delete(request[CALLER].plan, ident, request[ARRIVED]):
        return _not_found(request, ident)
    return _json(request, openai_responses.deleted_body(ident))


def _not_found(request: web.Request, ident: str) -> Answer:
    error = ApiError("response_not_found", id=ident)
    request[CALL].entry.error = error.kind.name
    return _json(request, openai_responses.not_found_body(error), error.status)


def add_responses_routes(app: web.Application, bases: list[str]) -> None:
    for base in bases:
        app.router.add_post(base + PATH, create_response)
        app.router.add_get(base + PATH + "/{response_id}", get_response)
        app.router.add_delete(base + PATH + "/{response_id}", delete_response)
