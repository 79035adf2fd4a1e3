"""One text completion, whichever protocol asked: check the model and the input, admit the call,
answer it (the engine, or a scenario's scripted reply), charge it and journal each step."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.call import CALL
from emulator.catalog import Protocol, TextModel
from emulator.engine import tokens
from emulator.engine.builtin_tools import ToolRun
from emulator.engine.cache import Prompt
from emulator.engine.types import ChatRequest, ChatResult
from emulator.errors import ApiError
from emulator.protocols import fields
from emulator.protocols.meta import ResponseMeta
from emulator.runtime import Runtime
from emulator.scenarios.rules import fill
from emulator.streaming import journal_once
from emulator.web import CALLER


def text_model(runtime: Runtime, body: dict[str, Any], protocol: Protocol) -> TextModel:
    """The model the body names, if it exists (case-sensitive) and speaks `protocol`."""
    model_id = fields.model_id(body)
    model = runtime.catalog.text_model(model_id)
    if model is None or not model.speaks(protocol):
        raise ApiError("model_not_found", model=model_id)
    return model


def complete(
    request: web.Request,
    chat: ChatRequest,
    runs: tuple[ToolRun, ...] = (),
    digest: bytes | None = None,
) -> ChatResult:
    """Check the input, admit the call, answer it and charge it, journaling each step. `runs`
    are the built-in tool calls the service made for it: what they returned is input to the
    model, and each call is charged. `digest`: the conversation's, when the caller has it."""
    call = request[CALL]
    runtime = call.runtime
    entry = call.entry
    entry.model, entry.stream = chat.model.id, chat.stream
    # With the context cache on, its reading of the prompt counts the tokens too (counted once).
    prompt = Prompt.of(chat) if runtime.config.context_cache else None
    input_tokens = prompt.tokens if prompt else tokens.prompt_tokens(chat.messages, chat.tools)
    if input_tokens > chat.model.max_input:
        raise ApiError("input_too_long", limit=chat.model.max_input)
    caller = request[CALLER]
    runtime.accounts.admit(caller)
    # Looked up only once the call is admitted, so a refused request neither hits nor fills the
    # cache. One cache per account: the Token Plan's seats share theirs (one subscription).
    cache = runtime.cache.use(caller.plan, prompt, call.arrived) if prompt else None
    if runs:
        input_tokens += sum(run.result_tokens for run in runs)
    answering = call.answering
    if answering is not None and answering.rule.reply is not None:
        script = fill(
            answering.rule.reply,
            last_user=next((m.text for m in reversed(chat.messages) if m.role == "user"), ""),
            model=chat.model.id,
            member=caller.seat.member if caller.seat is not None else "",
            call=answering.call,
            request_id=call.request_id,
        )
        result = runtime.engine.scripted(chat, script, input_tokens, cache, digest)
    else:
        result = runtime.engine.complete(chat, input_tokens, cache, digest)
    usage = result.usage
    entry.input_tokens, entry.cached_tokens = usage.input_tokens, usage.cached_tokens
    entry.output_tokens = usage.output_tokens
    charge = runtime.accounts.settle(
        caller, chat.model, usage, [run.kind for run in runs] if runs else ()
    )
    if charge is not None:
        entry.cost, entry.charged = charge.cost.total, charge.charged
        entry.from_packs = charge.from_packs
    if chat.stream:  # its usage goes out before the gateway's commit: journal it and commit
        journal_once(request, 200)  # the charge with it now (a whole answer's is, before sending)
    return result


def response_meta(request: web.Request, model: TextModel) -> ResponseMeta:
    call = request[CALL]
    return ResponseMeta(call.request_id, int(call.arrived), model.id)
