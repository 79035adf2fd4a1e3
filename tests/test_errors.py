"""Every documented access and validation error, seen through the official SDKs and on the wire.

Sources: docs/sources.md, the FAQ's "Common
errors and solutions". Gateway answers (key, path, method) are flat
`{"code","message","request_id"}` on every path of the site; everything after authentication is
in the envelope of the protocol that was called.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import anthropic
import openai
import pytest

from emulator.harness import RunningEmulator
from tests import raw_http
from tests.raw_http import Reply

OPENAI = "/compatible-mode/v1"
ANTHROPIC = "/apps/anthropic"
CHAT = f"{OPENAI}/chat/completions"
MODELS = f"{OPENAI}/models"
MESSAGES = f"{ANTHROPIC}/v1/messages"
COUNT = f"{ANTHROPIC}/v1/messages/count_tokens"

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FLAT_KEYS = ["code", "message", "request_id"]
OPENAI_KEYS = ["error", "request_id"]
OPENAI_ERROR_KEYS = ["message", "type", "param", "code"]
ANTHROPIC_KEYS = ["type", "error", "request_id"]
ANTHROPIC_ERROR_KEYS = ["type", "message"]
NO_KEY = "No API-key provided."
BAD_KEY = "Invalid API-key provided."
URL_ERROR = "url error, please check url!"
INVALID = "<400> InternalError.Algo.InvalidParameter: "
USER: list[Any] = [{"role": "user", "content": "Hello"}]
OPENAI_BODY: dict[str, Any] = {"model": "qwen3.6-plus", "messages": USER}
ANTHROPIC_BODY: dict[str, Any] = {"model": "glm-5", "max_tokens": 64, "messages": USER}


# ---- raw HTTP -----------------------------------------------------------------------------


def send(
    emulator: RunningEmulator,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | list[Any] | None = None,
    headers: Mapping[str, str | bytes] | None = None,
) -> Reply:
    """One request with exactly the headers given (http.client adds only Host and length)."""
    return raw_http.send(emulator.url, method, path, body, headers)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def assert_request_id(reply: Reply, request_id: str) -> None:
    """`request_id` is UUID-shaped and the same value travels in `x-request-id`."""
    assert UUID.match(request_id), request_id
    assert reply.headers["x-request-id"] == request_id


def assert_no_retry_headers(headers: Iterable[str]) -> None:
    """DashScope sends no Retry-After and no x-ratelimit-* headers (docs/sources.md)."""
    names = [name.lower() for name in headers]
    assert "retry-after" not in names
    assert "retry-after-ms" not in names
    assert not [name for name in names if name.startswith("x-ratelimit")]


def assert_flat(reply: Reply, status: int, code: str, message: str) -> None:
    """A gateway answer: the flat body, keys in the captured order."""
    assert reply.status == status, reply.raw
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json
    assert list(body) == FLAT_KEYS
    assert (body["code"], body["message"]) == (code, message)
    assert_request_id(reply, body["request_id"])
    assert_no_retry_headers(reply.headers)


def assert_openai_error(reply: Reply, status: int, code: str, message: str) -> None:
    """The OpenAI-compatible envelope with `message, type, param, code` in that order."""
    assert reply.status == status, reply.raw
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json
    assert list(body) == OPENAI_KEYS
    assert list(body["error"]) == OPENAI_ERROR_KEYS
    assert body["error"] == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": code,
    }
    assert_request_id(reply, body["request_id"])
    assert_no_retry_headers(reply.headers)


def assert_anthropic_error(reply: Reply, status: int, kind: str, message: str) -> None:
    """The Anthropic envelope `{"type":"error","error":{"type","message"},"request_id"}`."""
    assert reply.status == status, reply.raw
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json
    assert list(body) == ANTHROPIC_KEYS
    assert list(body["error"]) == ANTHROPIC_ERROR_KEYS
    assert body["type"] == "error"
    assert body["error"] == {"type": kind, "message": message}
    assert_request_id(reply, body["request_id"])
    assert_no_retry_headers(reply.headers)


@pytest.fixture
def key(token_plan_emulator: RunningEmulator) -> str:
    return token_plan_emulator.api_key


@pytest.fixture(autouse=True)
def _no_sdk_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs read keys from the environment when an argument is None: keep them out."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if the server logged an unexpected failure (a caught 500) meanwhile."""
    with caplog.at_level(logging.ERROR, logger="emulator"):
        yield
    records = caplog.get_records("call")  # at teardown, caplog.records holds teardown's only
    failures = [r.getMessage() for r in records if r.name.startswith("emulator")]
    assert not failures, failures


# ---- no key -------------------------------------------------------------------------------

EVERY_PATH = [
    ("POST", CHAT),
    ("GET", MODELS),
    ("POST", MESSAGES),
    ("POST", COUNT),
    ("GET", f"{OPENAI}/no/such/thing"),
    ("POST", f"{OPENAI}/chat/completion"),
    ("POST", f"{ANTHROPIC}/v1/nonsense"),
    ("GET", CHAT),  # a wrong method is still a missing key first
    ("GET", OPENAI),
    ("POST", "/api/v1/services/aigc/text-generation/generation"),
]


@pytest.mark.parametrize(("method", "path"), EVERY_PATH)
@pytest.mark.parametrize("how", ["no header", "x-api-key only"])
def test_no_key_is_a_flat_401_on_every_path(
    token_plan_emulator: RunningEmulator, key: str, method: str, path: str, how: str
) -> None:
    """No key, or the valid key only in x-api-key: the gateway's flat 401 before any routing."""
    headers = {"Content-Type": "application/json"}
    if how == "x-api-key only":
        headers["x-api-key"] = key
    body = ANTHROPIC_BODY if path.startswith(ANTHROPIC) else OPENAI_BODY
    reply = send(token_plan_emulator, method, path, body if method == "POST" else None, headers)
    assert_flat(reply, 401, "InvalidApiKey", NO_KEY)


def test_openai_sdk_without_authorization_header(token_plan_emulator: RunningEmulator) -> None:
    """The openai SDK with its Authorization header omitted: AuthenticationError, flat body,
    `.code` InvalidApiKey and `.type` None (no `error` object to read it from)."""
    client = openai.OpenAI(
        base_url=token_plan_emulator.openai_base_url, api_key="unused", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(
            model="qwen3.6-plus", messages=USER, extra_headers={"Authorization": openai.Omit()}
        )
    error = caught.value
    assert error.status_code == 401
    assert (error.code, error.type) == ("InvalidApiKey", None)
    assert isinstance(error.body, dict)
    assert list(error.body) == FLAT_KEYS
    assert error.body["message"] == NO_KEY
    assert NO_KEY in str(error)
    assert error.request_id == error.body["request_id"]


def test_openai_sdk_with_an_empty_key(token_plan_emulator: RunningEmulator) -> None:
    """`api_key=""`: openai 3.x refuses it client-side (nothing reaches the wire); openai 1.x sends
    no Authorization header and gets the gateway's `No API-key provided.`."""
    try:
        client = openai.OpenAI(
            base_url=token_plan_emulator.openai_base_url, api_key="", max_retries=0
        )
    except openai.OpenAIError as refused:
        assert "api_key" in str(refused)
        return
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.body == {
        "code": "InvalidApiKey",
        "message": NO_KEY,
        "request_id": caught.value.request_id,
    }


def x_api_key_client(base_url: str, key: str) -> anthropic.Anthropic:
    """An anthropic client that sends `key` in X-Api-Key and no Authorization header. (Which
    header `api_key=` maps to depends on the SDK: X-Api-Key in 0.x, Authorization in 2.x.)"""
    return anthropic.Anthropic(
        base_url=base_url,
        # Omit() removes a default header at run time; the annotation says str only
        default_headers={"X-Api-Key": key, "Authorization": anthropic.Omit()},  # type: ignore[dict-item]
        max_retries=0,
    )


def test_anthropic_sdk_with_x_api_key_only(token_plan_emulator: RunningEmulator, key: str) -> None:
    """The valid key only in X-Api-Key, as Claude Code sends ANTHROPIC_API_KEY: the Token Plan
    site ignores that header by default, so no key was provided."""
    client = x_api_key_client(token_plan_emulator.anthropic_base_url, key)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="glm-5", max_tokens=64, messages=USER)
    error = caught.value
    assert error.status_code == 401
    assert error.body == {
        "code": "InvalidApiKey",
        "message": NO_KEY,
        "request_id": error.response.headers["x-request-id"],
    }
    assert list(error.body) == FLAT_KEYS


# ---- invalid keys -------------------------------------------------------------------------


def _invalid_keys(valid: str) -> dict[str, str]:
    """Keys that are not live Token Plan keys, by the mistake they stand for."""
    return {
        "pay-as-you-go key": "sk-" + "0123456789abcdef" * 2,
        "unknown sk-sp- key": "sk-sp-" + "f" * 32,
        "valid key truncated": valid[:-1],
        "valid key with a space inside": f"{valid[:12]} {valid[12:]}",
        "valid key upper-cased": valid.upper(),
    }


INVALID_KEY_CASES = [
    "pay-as-you-go key",
    "unknown sk-sp- key",
    "valid key truncated",
    "valid key with a space inside",
    "valid key upper-cased",
]


@pytest.mark.parametrize("case", INVALID_KEY_CASES)
@pytest.mark.parametrize(("method", "path"), [("POST", CHAT), ("GET", MODELS), ("POST", MESSAGES)])
def test_invalid_key_is_a_flat_401(
    token_plan_emulator: RunningEmulator, key: str, case: str, method: str, path: str
) -> None:
    """A Bearer key that is not live: flat 401 `Invalid API-key provided.` on every path."""
    body = ANTHROPIC_BODY if path.startswith(ANTHROPIC) else OPENAI_BODY
    wrong = _invalid_keys(key)[case]
    reply = send(
        token_plan_emulator, method, path, body if method == "POST" else None, bearer(wrong)
    )
    assert_flat(reply, 401, "InvalidApiKey", BAD_KEY)


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_key_without_bearer_scheme_is_invalid(
    token_plan_emulator: RunningEmulator, key: str, path: str
) -> None:
    """`Authorization: <key>` without `Bearer`: a key that cannot be valid, not a missing one."""
    body = ANTHROPIC_BODY if path.startswith(ANTHROPIC) else OPENAI_BODY
    reply = send(token_plan_emulator, "POST", path, body, {"Authorization": key})
    assert_flat(reply, 401, "InvalidApiKey", BAD_KEY)


@pytest.mark.parametrize("case", INVALID_KEY_CASES)
def test_openai_sdk_invalid_key(token_plan_emulator: RunningEmulator, key: str, case: str) -> None:
    """openai SDK: AuthenticationError, `.code` InvalidApiKey, `.type` None, flat `.body`."""
    client = openai.OpenAI(
        base_url=token_plan_emulator.openai_base_url,
        api_key=_invalid_keys(key)[case],
        max_retries=0,
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="qwen3.6-plus", messages=USER)
    error = caught.value
    assert error.status_code == 401
    assert (error.code, error.type, error.param) == ("InvalidApiKey", None, None)
    assert error.body == {
        "code": "InvalidApiKey",
        "message": BAD_KEY,
        "request_id": error.request_id,
    }
    assert BAD_KEY in str(error)
    assert UUID.match(error.request_id or "")


@pytest.mark.parametrize("case", INVALID_KEY_CASES)
def test_anthropic_sdk_invalid_key(
    token_plan_emulator: RunningEmulator, key: str, case: str
) -> None:
    """anthropic SDK (Bearer via auth_token): AuthenticationError whose `.body` is the flat dict."""
    client = anthropic.Anthropic(
        base_url=token_plan_emulator.anthropic_base_url,
        auth_token=_invalid_keys(key)[case],
        max_retries=0,
    )
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="glm-5", max_tokens=64, messages=USER)
    error = caught.value
    assert error.status_code == 401
    assert error.body == {
        "code": "InvalidApiKey",
        "message": BAD_KEY,
        "request_id": error.response.headers["x-request-id"],
    }
    assert BAD_KEY in str(error)


def test_anthropic_sdk_count_tokens_invalid_key(token_plan_emulator: RunningEmulator) -> None:
    """count_tokens is behind the same gateway."""
    client = anthropic.Anthropic(
        base_url=token_plan_emulator.anthropic_base_url,
        auth_token="sk-sp-" + "0" * 32,
        max_retries=0,
    )
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.count_tokens(model="glm-5", messages=USER)
    assert caught.value.body["message"] == BAD_KEY  # type: ignore[index]


# ---- which header counts ------------------------------------------------------------------


def test_valid_bearer_wins_over_junk_x_api_key(
    token_plan_emulator: RunningEmulator, key: str
) -> None:
    """A valid Bearer key authenticates even with a junk x-api-key beside it."""
    claude = anthropic.Anthropic(
        base_url=token_plan_emulator.anthropic_base_url,
        auth_token=key,
        default_headers={"X-Api-Key": "junk-x-api-key"},
        max_retries=0,
    )
    message = claude.messages.create(model="glm-5", max_tokens=64, messages=USER)
    assert message.type == "message"
    reply = send(token_plan_emulator, "POST", CHAT, OPENAI_BODY, {**bearer(key), "x-api-key": "x"})
    assert reply.status == 200
    assert reply.json["object"] == "chat.completion"


def test_accept_x_api_key_switch(emulator_factory: Any) -> None:
    """With `accept_x_api_key`, x-api-key alone authenticates; a wrong one is still invalid and
    an absent one still missing."""
    emulator: RunningEmulator = emulator_factory(accept_x_api_key=True)
    claude = x_api_key_client(emulator.anthropic_base_url, emulator.api_key)
    assert claude.messages.create(model="glm-5", max_tokens=64, messages=USER).type == "message"
    assert claude.messages.count_tokens(model="glm-5", messages=USER).input_tokens > 0
    ok = send(emulator, "GET", MODELS, headers={"x-api-key": emulator.api_key})
    assert ok.status == 200
    wrong = send(emulator, "POST", MESSAGES, ANTHROPIC_BODY, {"x-api-key": "sk-sp-" + "1" * 32})
    assert_flat(wrong, 401, "InvalidApiKey", BAD_KEY)
    assert_flat(send(emulator, "POST", MESSAGES, ANTHROPIC_BODY), 401, "InvalidApiKey", NO_KEY)


# ---- models -------------------------------------------------------------------------------

OPENAI_MISSING_MODELS = ["qwen9-ultra", "Qwen3.6-plus", "QWEN3.6-PLUS", "wan2.7-image"]
ANTHROPIC_MISSING_MODELS = [
    "qwen9-ultra",
    "Qwen3.6-plus",
    "deepseek-v3.2",
    "wan2.7-image",
    "gpt-4o",
]


def _not_found(model: str) -> str:
    return f"model '{model}' not found or not supported"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", OPENAI_MISSING_MODELS)
def test_openai_sdk_model_not_found(oai: openai.OpenAI, model: str, stream: bool) -> None:
    """Unknown, wrong-case and image models: 404 model_not_found / invalid_request_error, also
    when a stream was asked for (the error comes before the stream starts)."""
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model=model, messages=USER, stream=stream)
    error = caught.value
    assert error.status_code == 404
    assert (error.code, error.type, error.param) == (
        "model_not_found",
        "invalid_request_error",
        None,
    )
    assert error.body == {
        "message": _not_found(model),
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    assert error.response.headers["content-type"].startswith("application/json")
    assert UUID.match(error.request_id or "")


@pytest.mark.parametrize("model", OPENAI_MISSING_MODELS)
def test_openai_model_not_found_on_the_wire(
    token_plan_emulator: RunningEmulator, key: str, model: str
) -> None:
    """The exact envelope and key order of the 404."""
    reply = send(token_plan_emulator, "POST", CHAT, {**OPENAI_BODY, "model": model}, bearer(key))
    assert_openai_error(reply, 404, "model_not_found", _not_found(model))


@pytest.mark.parametrize("model", ANTHROPIC_MISSING_MODELS)
def test_anthropic_sdk_model_not_found(claude: anthropic.Anthropic, model: str) -> None:
    """Unknown, wrong case, deepseek-v3.2 (OpenAI-only) and image models: 404 not_found_error on
    create, on a stream and on count_tokens."""
    expected = {
        "type": "error",
        "error": {"type": "not_found_error", "message": _not_found(model)},
    }
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model=model, max_tokens=64, messages=USER)
    assert caught.value.status_code == 404
    body = caught.value.body
    assert isinstance(body, dict)
    assert {k: v for k, v in body.items() if k != "request_id"} == expected
    assert body["request_id"] == caught.value.response.headers["x-request-id"]
    with (
        pytest.raises(anthropic.NotFoundError) as streamed,
        claude.messages.stream(model=model, max_tokens=64, messages=USER),
    ):
        pass
    assert streamed.value.body["error"]["message"] == _not_found(model)  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as counted:
        claude.messages.count_tokens(model=model, messages=USER)
    assert counted.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


@pytest.mark.parametrize("path", [MESSAGES, COUNT])
@pytest.mark.parametrize("model", ANTHROPIC_MISSING_MODELS)
def test_anthropic_model_not_found_on_the_wire(
    token_plan_emulator: RunningEmulator, key: str, model: str, path: str
) -> None:
    """The exact Anthropic envelope and key order of the 404."""
    reply = send(token_plan_emulator, "POST", path, {**ANTHROPIC_BODY, "model": model}, bearer(key))
    assert_anthropic_error(reply, 404, "not_found_error", _not_found(model))


def test_deepseek_is_fine_on_openai(oai: openai.OpenAI) -> None:
    """Control: the model refused on Anthropic is served on the OpenAI-compatible endpoint."""
    reply = oai.chat.completions.create(model="deepseek-v3.2", messages=USER, max_tokens=16)
    assert reply.model == "deepseek-v3.2"


# ---- paths and methods --------------------------------------------------------------------

WRONG_PATHS = [
    ("POST", f"{OPENAI}/chat/completion"),
    ("POST", f"{OPENAI}/v1/chat/completions"),
    ("POST", f"{OPENAI}/chat/completions/"),
    ("GET", OPENAI),
    ("POST", f"{ANTHROPIC}/messages"),
    ("POST", f"{ANTHROPIC}/v1/v1/messages"),
    ("POST", f"{ANTHROPIC}/v1/messages/count-tokens"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_PATHS)
def test_wrong_path_is_a_flat_400(
    token_plan_emulator: RunningEmulator, key: str, method: str, path: str
) -> None:
    """A wrong path under a known prefix, with a valid key: flat 400 `url error`."""
    body = ANTHROPIC_BODY if path.startswith(ANTHROPIC) else OPENAI_BODY
    reply = send(token_plan_emulator, method, path, body if method == "POST" else None, bearer(key))
    assert_flat(reply, 400, "InvalidParameter", URL_ERROR)


def test_sdks_with_a_wrong_base_url(token_plan_emulator: RunningEmulator, key: str) -> None:
    """The usual misconfigurations (an extra /v1) surface as BadRequestError with the flat body."""
    client = openai.OpenAI(
        base_url=token_plan_emulator.openai_base_url + "/v1", api_key=key, max_retries=0
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="qwen3.6-plus", messages=USER)
    assert (caught.value.code, caught.value.type) == ("InvalidParameter", None)
    assert caught.value.body["message"] == URL_ERROR  # type: ignore[index]
    claude = anthropic.Anthropic(
        base_url=token_plan_emulator.anthropic_base_url + "/v1", auth_token=key, max_retries=0
    )
    with pytest.raises(anthropic.BadRequestError) as wrong:
        claude.messages.create(model="glm-5", max_tokens=64, messages=USER)
    assert wrong.value.body["code"] == "InvalidParameter"  # type: ignore[index]
    assert wrong.value.body["message"] == URL_ERROR  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", CHAT),
        ("PUT", CHAT),
        ("DELETE", CHAT),
        ("POST", MODELS),
        ("GET", MESSAGES),
        ("GET", COUNT),
    ],
)
def test_wrong_method_is_a_flat_405(
    token_plan_emulator: RunningEmulator, key: str, method: str, path: str
) -> None:
    """A known path with the wrong method: 405, code `Method Not Allowed`, captured message."""
    reply = send(token_plan_emulator, method, path, headers=bearer(key))
    message = f"Method '{method}' is not allowed for '{path}'."
    assert_flat(reply, 405, "Method Not Allowed", message)


@pytest.mark.parametrize(
    "path",
    ["/", "/v1/chat/completions", "/compatible-mode/v2/chat/completions", "/api/hello", "/apps"],
)
@pytest.mark.parametrize("authorized", [False, True])
def test_path_outside_every_prefix_is_an_empty_404(
    token_plan_emulator: RunningEmulator, key: str, path: str, authorized: bool
) -> None:
    """Outside every prefix there is no gateway: 404 with an empty body, key or not."""
    reply = send(token_plan_emulator, "POST", path, b"{}", bearer(key) if authorized else {})
    assert reply.status == 404
    assert reply.raw == b""
    assert_no_retry_headers(reply.headers)


# ---- malformed bodies ---------------------------------------------------------------------


def _openai_bad_requests() -> list[tuple[str, bytes | dict[str, Any], str, str]]:
    """(case, body, OpenAI code, message) for the basic validation failures."""
    return [
        ("malformed JSON", b'{"model": "qwen3.6-plus", "messages": [', "invalid_parameter_error",
         INVALID + "The request body is not valid JSON."),
        ("not UTF-8", b"\xff\xfe{}", "invalid_parameter_error",
         INVALID + "The request body is not valid JSON."),
        ("empty body", b"", "invalid_parameter_error",
         INVALID + "The request body must be a JSON object."),
        ("JSON array", b"[]", "invalid_parameter_error",
         INVALID + "The request body must be a JSON object."),
        ("JSON string", b'"hello"', "invalid_parameter_error",
         INVALID + "The request body must be a JSON object."),
        ("JSON null", b"null", "invalid_parameter_error",
         INVALID + "The request body must be a JSON object."),
        ("missing model", {"messages": USER}, "invalid_request_error",
         "you must provide a model parameter."),
        ("empty model", {"model": "", "messages": USER}, "invalid_request_error",
         "you must provide a model parameter."),
        ("missing messages", {"model": "qwen3.6-plus"}, "invalid_parameter_error",
         INVALID + "'messages' is required"),
        ("max_tokens a word", {**OPENAI_BODY, "max_tokens": "ten"}, "invalid_parameter_error",
         INVALID + "'max_tokens' must be Integer"),
        ("stream a word", {**OPENAI_BODY, "stream": "yes"}, "invalid_parameter_error",
         INVALID + "'stream' must be Boolean"),
        ("messages a string", {**OPENAI_BODY, "messages": "Hello"}, "invalid_parameter_error",
         INVALID + "'messages' must be a non-empty list"),
        ("tools not a list", {**OPENAI_BODY, "tools": {"name": "f"}}, "invalid_parameter_error",
         INVALID + "'tools' must be Array"),
    ]  # fmt: skip


def _anthropic_bad_requests() -> list[tuple[str, bytes | dict[str, Any], str]]:
    """(case, body, message) for the basic validation failures on the Anthropic endpoint."""
    return [
        ("malformed JSON", b'{"model": "glm-5", "messages": [',
         INVALID + "The request body is not valid JSON."),
        ("empty body", b"", INVALID + "The request body must be a JSON object."),
        ("JSON array", b"[1, 2]", INVALID + "The request body must be a JSON object."),
        ("JSON number", b"42", INVALID + "The request body must be a JSON object."),
        ("missing model", {"max_tokens": 64, "messages": USER},
         "you must provide a model parameter."),
        ("missing messages", {"model": "glm-5", "max_tokens": 64},
         INVALID + "messages: Field required"),
        ("missing max_tokens", {"model": "glm-5", "messages": USER},
         INVALID + "max_tokens: Field required"),
        ("max_tokens a word", {**ANTHROPIC_BODY, "max_tokens": "ten"},
         INVALID + "'max_tokens' must be Integer"),
        ("stream a word", {**ANTHROPIC_BODY, "stream": "yes"},
         INVALID + "'stream' must be Boolean"),
        ("messages a string", {**ANTHROPIC_BODY, "messages": "Hello"},
         INVALID + "'messages' must be a non-empty list"),
        ("tools not a list", {**ANTHROPIC_BODY, "tools": {"name": "f"}},
         INVALID + "'tools' must be Array"),
    ]  # fmt: skip


def _with_stream_variants(
    cases: list[tuple[str, bytes | dict[str, Any], str, str]],
) -> list[Any]:
    """Each case as is, and each JSON-object case once more with `"stream": true` added."""
    params = [pytest.param(body, code, message, id=case) for case, body, code, message in cases]
    params += [
        pytest.param({**body, "stream": True}, code, message, id=f"{case}, streamed")
        for case, body, code, message in cases
        if isinstance(body, dict) and "stream" not in body
    ]
    return params


@pytest.mark.parametrize(("body", "code", "message"), _with_stream_variants(_openai_bad_requests()))
def test_openai_bad_request_on_the_wire(
    token_plan_emulator: RunningEmulator,
    key: str,
    no_server_errors: None,
    body: bytes | dict[str, Any],
    code: str,
    message: str,
) -> None:
    """400 in the OpenAI envelope; plain JSON too when a stream was asked for (the request is
    refused before any stream starts)."""
    reply = send(token_plan_emulator, "POST", CHAT, body, bearer(key))
    assert_openai_error(reply, 400, code, message)


@pytest.mark.parametrize("path", [MESSAGES, COUNT])
@pytest.mark.parametrize(
    ("case", "body", "message"),
    _anthropic_bad_requests(),
    ids=[case[0] for case in _anthropic_bad_requests()],
)
def test_anthropic_bad_request_on_the_wire(
    token_plan_emulator: RunningEmulator,
    key: str,
    no_server_errors: None,
    case: str,
    body: bytes | dict[str, Any],
    message: str,
    path: str,
) -> None:
    """400 invalid_request_error in the Anthropic envelope, on messages and on count_tokens
    (which takes no max_tokens and does not stream, so those two cases pass there)."""
    if path == COUNT and case in ("missing max_tokens", "max_tokens a word", "stream a word"):
        reply = send(token_plan_emulator, "POST", path, body, bearer(key))
        assert reply.status == 200, reply.raw
        return
    reply = send(token_plan_emulator, "POST", path, body, bearer(key))
    assert_anthropic_error(reply, 400, "invalid_request_error", message)


def test_anthropic_bad_request_with_stream(
    token_plan_emulator: RunningEmulator, key: str, no_server_errors: None
) -> None:
    """An Anthropic request refused before streaming is plain JSON with its 400, not SSE."""
    body = {**ANTHROPIC_BODY, "stream": True, "max_tokens": -5}
    reply = send(token_plan_emulator, "POST", MESSAGES, body, bearer(key))
    assert_anthropic_error(
        reply, 400, "invalid_request_error", INVALID + "Range of max_tokens should be [1, 131072]"
    )


def test_openai_sdk_bad_request(oai: openai.OpenAI) -> None:
    """The openai SDK reads code/type/param from the envelope's `error` object."""
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model="qwen3.6-plus",
            messages=USER,
            extra_body={"max_tokens": "ten"},
        )
    error = caught.value
    assert error.status_code == 400
    assert (error.code, error.type, error.param) == (
        "invalid_parameter_error",
        "invalid_request_error",
        None,
    )
    assert error.body == {
        "message": INVALID + "'max_tokens' must be Integer",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_parameter_error",
    }
    with pytest.raises(openai.BadRequestError) as streamed:
        oai.chat.completions.create(model="qwen3.6-plus", messages=[], stream=True)
    assert streamed.value.code == "invalid_parameter_error"
    assert streamed.value.body["message"].endswith("'messages' must be a non-empty list")  # type: ignore[index]


def test_anthropic_sdk_bad_request(claude: anthropic.Anthropic) -> None:
    """The anthropic SDK gets the whole envelope as `.body`, BadRequestError for a 400."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="glm-5", max_tokens=0, messages=USER)
    error = caught.value
    assert error.status_code == 400
    assert error.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": INVALID + "Range of max_tokens should be [1, 131072]",
        },
        "request_id": error.response.headers["x-request-id"],
    }
    with (
        pytest.raises(anthropic.BadRequestError) as streamed,
        claude.messages.stream(model="glm-5", max_tokens=64, messages=[]),
    ):
        pass
    assert streamed.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


# ---- fuzz ---------------------------------------------------------------------------------

INF = float("inf")
NAN = float("nan")
_U = USER


def _openai_fuzz() -> list[dict[str, Any]]:
    """Hand-made wrong bodies for chat/completions; each must be refused with a 4xx."""
    base = OPENAI_BODY
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    return [
        {"model": None, "messages": _U},
        {"model": 0, "messages": _U},
        {"model": True, "messages": _U},
        {"model": ["qwen3.6-plus"], "messages": _U},
        {"model": {"id": "qwen3.6-plus"}, "messages": _U},
        {"model": "qwen3.6-plus\u200b", "messages": _U},
        {"model": "ｑｗｅｎ3.6-plus", "messages": _U},
        {"model": "模型", "messages": _U},
        {"model": "\ud800", "messages": _U},
        {"model": "qwen3.6-plus", "messages": None},
        {**base, "messages": []},
        {**base, "messages": {}},
        {**base, "messages": [None]},
        {**base, "messages": [1]},
        {**base, "messages": ["Hello"]},
        {**base, "messages": [[]]},
        {**base, "messages": [{"role": None, "content": "hi"}]},
        {**base, "messages": [{"role": ["user"], "content": "hi"}]},
        {**base, "messages": [{"role": {"user": 1}, "content": "hi"}]},
        {**base, "messages": [{"role": "robot", "content": "hi"}]},
        {**base, "messages": [{"role": "user", "content": 5}]},
        {**base, "messages": [{"role": "user", "content": {"text": "hi"}}]},
        {**base, "messages": [{"role": "user", "content": [1, 2]}]},
        {**base, "messages": [{"role": "user", "content": [None]}]},
        {**base, "messages": [{"role": "assistant", "content": None, "tool_calls": "f"}]},
        {**base, "messages": [{"role": "assistant", "tool_calls": [{"function": None}]}]},
        {**base, "max_tokens": -1},
        {**base, "max_tokens": 0},
        {**base, "max_tokens": 10**30},
        {**base, "max_tokens": INF},
        {**base, "max_tokens": 1.5},
        {**base, "max_tokens": [10]},
        {**base, "max_completion_tokens": 0},
        {**base, "temperature": 2.5},
        {**base, "temperature": -1},
        {**base, "temperature": "hot"},
        {**base, "temperature": NAN},
        {**base, "top_p": 0},
        {**base, "top_p": 1.5},
        {**base, "presence_penalty": 3},
        {**base, "frequency_penalty": -2.5},
        {**base, "n": 0},
        {**base, "n": 5},
        {**base, "n": "2"},
        {**base, "seed": -1},
        {**base, "seed": 2**31},
        {**base, "seed": "42"},
        {**base, "seed": 1.5},
        {**base, "stream": 1},
        {**base, "stream": True, "stream_options": []},
        {**base, "stream": True, "stream_options": {"include_usage": "yes"}},
        {**base, "stop": 5},
        {**base, "stop": [1, 2]},
        {**base, "tools": "f"},
        {**base, "tools": [1]},
        {**base, "tools": [{"type": "function"}]},
        {**base, "tools": [{"type": "function", "function": {"name": 5}}]},
        {**base, "tools": [tool], "tool_choice": "sometimes"},
        {**base, "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "g"}}},
        {**base, "response_format": "json"},
        {**base, "response_format": {"type": "xml"}},
        {**base, "enable_thinking": False, "response_format": {"type": "json_schema"}},
        {**base, "enable_thinking": "yes"},
        {**base, "thinking_budget": -5},
        {**base, "thinking_budget": "many"},
        {**base, "model": "MiniMax-M2.5", "enable_thinking": False},
    ]


def _anthropic_fuzz() -> list[dict[str, Any]]:
    """Hand-made wrong bodies for /v1/messages; each must be refused with a 4xx."""
    base = ANTHROPIC_BODY
    tool = {"name": "f", "input_schema": {"type": "object"}}
    return [
        {"model": None, "max_tokens": 64, "messages": _U},
        {"model": 0, "max_tokens": 64, "messages": _U},
        {"model": ["glm-5"], "max_tokens": 64, "messages": _U},
        {"model": {"id": "glm-5"}, "max_tokens": 64, "messages": _U},
        {"model": "glm-5\u200b", "max_tokens": 64, "messages": _U},
        {"model": "ｇｌｍ-5", "max_tokens": 64, "messages": _U},
        {"model": "\udc00glm-5", "max_tokens": 64, "messages": _U},
        {**base, "max_tokens": None},
        {**base, "max_tokens": -1},
        {**base, "max_tokens": 0},
        {**base, "max_tokens": 10**30},
        {**base, "max_tokens": INF},
        {**base, "max_tokens": 2.5},
        {**base, "max_tokens": [64]},
        {**base, "messages": None},
        {**base, "messages": []},
        {**base, "messages": {}},
        {**base, "messages": [None]},
        {**base, "messages": [1]},
        {**base, "messages": [{"role": None, "content": "hi"}]},
        {**base, "messages": [{"role": ["user"], "content": "hi"}]},
        {**base, "messages": [{"role": "robot", "content": "hi"}]},
        {**base, "messages": [{"role": "user", "content": 5}]},
        {**base, "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]},
        {**base, "messages": [{"role": "user", "content": [5]}]},
        {**base, "messages": [{"role": "user", "content": ["hi"]}]},
        {
            **base,
            "messages": [{"role": "user", "content": [{"type": "tool_result", "content": 5}]}],
        },
        {**base, "system": 5},
        {**base, "system": {"text": "be brief"}},
        {**base, "system": [5]},
        {**base, "tools": "f"},
        {**base, "tools": [5]},
        {**base, "tools": [{"input_schema": {"type": "object"}}]},
        {**base, "tools": [{"name": 5}]},
        {**base, "tools": [tool], "tool_choice": "auto"},
        {**base, "tools": [tool], "tool_choice": {"type": "sometimes"}},
        {**base, "tools": [tool], "tool_choice": {"type": "tool", "name": "g"}},
        {**base, "thinking": "enabled"},
        {**base, "thinking": {"type": "on"}},
        {**base, "thinking": {"type": "enabled"}},
        {**base, "thinking": {"type": "enabled", "budget_tokens": -1}},
        {**base, "thinking": {"type": "enabled", "budget_tokens": "lots"}},
        {**base, "temperature": 3},
        {**base, "temperature": NAN},
        {**base, "top_p": 0},
        {**base, "top_k": "x"},
        {**base, "stop_sequences": 5},
        {**base, "stop_sequences": [1]},
        {**base, "stream": "yes"},
        {**base, "stream": 1},
        {**base, "model": "deepseek-v3.2"},
    ]


@pytest.mark.parametrize(
    ("path", "bodies"),
    [(CHAT, _openai_fuzz()), (MESSAGES, _anthropic_fuzz()), (COUNT, _anthropic_fuzz())],
    ids=["openai", "anthropic", "count_tokens"],
)
def test_fuzz_bodies_answer_4xx_json(
    token_plan_emulator: RunningEmulator,
    key: str,
    no_server_errors: None,
    path: str,
    bodies: list[dict[str, Any]],
) -> None:
    """Nulls, wrong nested types, huge, negative and non-finite numbers, odd unicode: each body
    gets a 4xx in the called protocol's envelope, never a 5xx, a traceback or a non-JSON body.
    (count_tokens ignores max_tokens and stream, so there those bodies may pass.)"""
    failures = []
    for body in bodies:
        reply = send(token_plan_emulator, "POST", path, json.dumps(body).encode(), bearer(key))
        tolerated = path == COUNT and ({"max_tokens", "stream"} & _changed(body, ANTHROPIC_BODY))
        if tolerated and reply.status == 200:
            continue
        problem = _envelope_problem(reply, "anthropic" if path != CHAT else "openai")
        if problem:
            failures.append(f"{json.dumps(body)[:120]} -> {reply.status}: {problem}")
    assert not failures, "\n".join(failures)


def _changed(body: dict[str, Any], base: dict[str, Any]) -> set[str]:
    return {k for k in body if k not in base or body[k] is not base[k]}


def _envelope_problem(reply: Reply, protocol: str) -> str | None:
    """Why `reply` is not a well-formed 4xx error of `protocol`, or None if it is."""
    if not 400 <= reply.status < 500:
        return "not a 4xx"
    if not reply.headers["Content-Type"].startswith("application/json"):
        return f"content type {reply.headers['Content-Type']}"
    try:
        body = json.loads(reply.raw)
    except ValueError:
        return f"not JSON: {reply.raw[:80]!r}"
    keys = OPENAI_KEYS if protocol == "openai" else ANTHROPIC_KEYS
    inner = OPENAI_ERROR_KEYS if protocol == "openai" else ANTHROPIC_ERROR_KEYS
    if list(body) != keys or list(body["error"]) != inner:
        return f"shape {reply.raw[:120]!r}"
    if body["request_id"] != reply.headers["x-request-id"] or not UUID.match(body["request_id"]):
        return "request_id"
    if "Traceback" in body["error"]["message"]:
        return "traceback in message"
    return None


HOSTILE_SCHEMAS: list[Any] = [
    {"type": "object", "properties": "x"},
    {"type": "array", "minItems": 100_000_000},
    {"type": "string", "minLength": 100_000_000},
    {"type": "object", "minProperties": 100_000_000},
    {"type": "array", "minItems": "many"},
    {"type": "integer", "minimum": "low", "maximum": None},
    {"type": "number", "multipleOf": 1e-300, "minimum": 0, "maximum": 1e300},
    {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
    {"allOf": [{"$ref": "#"}, {"$ref": "#"}]},
    {"anyOf": [5, {"$ref": "#"}]},
    {"$ref": "#/properties/a/type", "properties": {"a": {"type": "string"}}},
    {
        "type": "array",
        "minItems": 60,
        "items": {"type": "array", "minItems": 60, "items": {"type": "array", "minItems": 60}},
    },
]


@pytest.mark.parametrize("schema", HOSTILE_SCHEMAS, ids=[str(i) for i in range(12)])
def test_hostile_tool_schemas_never_fail_the_server(
    token_plan_emulator: RunningEmulator, key: str, no_server_errors: None, schema: Any
) -> None:
    """Valid JSON, absurd schemas (self-references, minItems 1e8, wrong types): the forced tool
    call is answered quickly on both protocols, never with a 5xx or a hang (regression)."""
    openai_body = {
        **OPENAI_BODY,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
        "tool_choice": "required",
    }
    anthropic_body = {
        **ANTHROPIC_BODY,
        "max_tokens": 16384,
        "tools": [{"name": "f", "input_schema": schema}],
        "tool_choice": {"type": "any"},
    }
    started = time.perf_counter()
    for path, body in ((CHAT, openai_body), (MESSAGES, anthropic_body)):
        reply = send(token_plan_emulator, "POST", path, body, bearer(key))
        assert reply.status < 500, reply.raw[:300]
        reply.json  # noqa: B018 - the body must be JSON
    assert time.perf_counter() - started < 5


def test_json_schema_answer_with_hostile_schema(
    token_plan_emulator: RunningEmulator, key: str, no_server_errors: None
) -> None:
    """response_format json_schema goes through the same faker: no 5xx, streamed or not."""
    for stream in (False, True):
        body = {
            **OPENAI_BODY,
            "enable_thinking": False,
            "stream": stream,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"$ref": "#/nope", "minItems": 1e400}},
            },
        }
        reply = send(token_plan_emulator, "POST", CHAT, body, bearer(key))
        assert reply.status == 200, reply.raw[:300]


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_lone_surrogates_are_replaced_not_fatal(
    token_plan_emulator: RunningEmulator, key: str, no_server_errors: None, path: str
) -> None:
    """JSON may carry an unpaired \\ud800 escape (a tool cutting an emoji in half); it cannot be
    written back as UTF-8, so it becomes U+FFFD instead of a 500 (regression)."""
    raw = (
        '{"model":"\\ud83dglm-5","max_tokens":64,"messages":[{"role":"user","content":"\\ud800"}]}'
    )
    reply = send(token_plan_emulator, "POST", path, raw.encode(), bearer(key))
    assert reply.status == 404
    assert "\ufffdglm-5" in reply.json["error"]["message"]
    good = json.dumps({**ANTHROPIC_BODY, "model": "glm-5"}).replace('"Hello"', '"hi \\ud83d"')
    if path == CHAT:
        good = good.replace('"glm-5"', '"qwen3.6-plus"')
    assert send(token_plan_emulator, "POST", path, good.encode(), bearer(key)).status == 200


@pytest.mark.parametrize("path", [CHAT, MESSAGES, COUNT])
def test_deeply_nested_json_is_a_400(
    token_plan_emulator: RunningEmulator, key: str, no_server_errors: None, path: str
) -> None:
    """JSON nested deeper than the parser's recursion limit is refused as invalid JSON, in the
    called protocol's envelope (it used to be a 500)."""
    raw = b'{"model":"glm-5","max_tokens":64,"messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = send(token_plan_emulator, "POST", path, raw, bearer(key))
    message = INVALID + "The request body is not valid JSON."
    if path == CHAT:
        assert_openai_error(reply, 400, "invalid_parameter_error", message)
    else:
        assert_anthropic_error(reply, 400, "invalid_request_error", message)


# ---- ids and headers across errors --------------------------------------------------------


def test_every_error_kind_carries_a_fresh_uuid_request_id(
    token_plan_emulator: RunningEmulator, key: str
) -> None:
    """Gateway, OpenAI and Anthropic errors: UUID request ids equal to x-request-id, distinct
    across different requests, with no retry or rate-limit headers."""
    replies = [
        send(token_plan_emulator, "POST", CHAT, OPENAI_BODY),
        send(token_plan_emulator, "POST", CHAT, OPENAI_BODY, bearer("sk-bad")),
        send(token_plan_emulator, "POST", f"{OPENAI}/nope", OPENAI_BODY, bearer(key)),
        send(token_plan_emulator, "GET", CHAT, headers=bearer(key)),
        send(token_plan_emulator, "POST", CHAT, {**OPENAI_BODY, "model": "x"}, bearer(key)),
        send(token_plan_emulator, "POST", MESSAGES, {**ANTHROPIC_BODY, "model": "x"}, bearer(key)),
        send(token_plan_emulator, "POST", COUNT, b"{", bearer(key)),
    ]
    ids = []
    for reply in replies:
        assert 400 <= reply.status < 500
        request_id = reply.json["request_id"]
        assert_request_id(reply, request_id)
        assert_no_retry_headers(reply.headers)
        ids.append(request_id)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_failure_after_the_stream_started_is_an_error_frame(
    token_plan_emulator: RunningEmulator,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    """An unexpected exception once the 200 is out ends the stream with the protocol's error
    frame (internal_error), never a second HTTP response written into the stream (regression)."""
    from emulator.protocols import anthropic_messages, openai_chat

    module: Any = openai_chat if path == CHAT else anthropic_messages
    real = module.stream_frames

    def failing(*args: Any) -> Iterator[bytes]:
        frames = real(*args)
        yield next(frames)
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(module, "stream_frames", failing)
    body = {**(OPENAI_BODY if path == CHAT else ANTHROPIC_BODY), "stream": True}
    with caplog.at_level(logging.CRITICAL, logger="emulator"):  # the failure is logged; expected
        reply = send(token_plan_emulator, "POST", path, body, bearer(key))
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    frames = reply.raw.decode().split("\n\n")
    assert b"HTTP/1.1" not in reply.raw
    last = json.loads(frames[-2].rsplit("data: ", 1)[1])
    assert last["request_id"] == reply.headers["x-request-id"]
    if path == CHAT:
        assert last["error"]["code"] == "internal_error"
    else:
        assert frames[-2].startswith("event: error\n")
        assert last["error"]["type"] == "api_error"
