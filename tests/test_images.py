"""The image API (issue 5, docs/sources.md): qwen-image-2.0 and wan2.7-image, synchronous and (for
wan2.7) as async tasks, with real PNGs served at URLs that expire on the emulator's clock.

Raw HTTP where the bytes matter (body shapes field by field, the PNG chunks, the OSS XML), the
official `dashscope` SDK as a tool would use it (`MultiModalConversation.call` for the sync
endpoint, `ImageGeneration.async_call` / `fetch` / `wait` for the tasks), and the admin API for the
clock and the books. Every emulator runs on a frozen clock, so task states and URL expiry move
only when a test moves the clock.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import dashscope
import dashscope.client.base_api
import pytest
from dashscope.aigc.image_generation import ImageGeneration

from emulator.catalog import default_catalog
from emulator.config import SeatConfig, load_scenario
from emulator.engine import tokens
from emulator.engine.images import paint
from emulator.harness import RunningEmulator
from tests.admin_api import Admin, credits
from tests.raw_http import Reply

Factory = Callable[..., RunningEmulator]
CLOCK = "2026-05-01T00:00:00Z"
CLOCK_EPOCH = 1777593600
DAY = 24 * 3600
TP = "/api/v1"  # the Token Plan's native DashScope base
PAYG = "/dashscope/api/v1"  # pay-as-you-go's
SYNC = "/services/aigc/multimodal-generation/generation"
ASYNC = "/services/aigc/image-generation/generation"
QWEN = ("qwen-image-2.0", "qwen-image-2.0-pro")
WAN = ("wan2.7-image", "wan2.7-image-pro")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
URL = re.compile(
    r"^http://127\.0\.0\.1:\d+/_emulator/files/[0-9a-f]{32}\.png"
    r"\?Expires=(\d+)&OSSAccessKeyId=emulator&Signature=[0-9a-f]+$"
)
FLAT_KEYS = ["code", "message", "request_id"]
INVALID = "<400> InternalError.Algo.InvalidParameter: "
REFERENCE = "https://example.com/cat.png"  # never fetched: the emulator is offline
TINY_PNG = (  # a 1 x 1 RGB PNG
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
QUOTA = "You exceeded your current quota, please check your plan and billing details."


# ---- raw HTTP -------------------------------------------------------------------------------


def send(
    emulator: RunningEmulator,
    method: str,
    target: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request to a path or to an absolute URL the emulator handed out."""
    where = urlsplit(target if "://" in target else emulator.url + target)
    path = where.path + (f"?{where.query}" if where.query else "")
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def request_body(
    model: str,
    prompt: str = "a red fox in the snow",
    images: tuple[str, ...] = (),
    **parameters: Any,
) -> dict[str, Any]:
    content: list[dict[str, str]] = [{"image": image} for image in images]
    content.append({"text": prompt})
    body: dict[str, Any] = {
        "model": model,
        "input": {"messages": [{"role": "user", "content": content}]},
    }
    if parameters:
        body["parameters"] = parameters
    return body


def post(
    emulator: RunningEmulator,
    body: dict[str, Any],
    *,
    endpoint: str = SYNC,
    base: str = TP,
    key: str | None = None,
    asynchronous: bool = False,
) -> Reply:
    headers = {"Authorization": f"Bearer {key or emulator.api_key}"}
    headers["Content-Type"] = "application/json"
    if asynchronous:
        headers["X-DashScope-Async"] = "enable"
    return send(emulator, "POST", base + endpoint, body, headers)


def generate(emulator: RunningEmulator, model: str, **parameters: Any) -> dict[str, Any]:
    """A successful synchronous generation's body."""
    reply = post(emulator, request_body(model, **parameters))
    assert reply.status == 200, reply.raw
    body: dict[str, Any] = reply.json
    return body


def image_urls(body: dict[str, Any]) -> list[str]:
    return [item["image"] for item in body["output"]["choices"][0]["message"]["content"]]


def task(emulator: RunningEmulator, task_id: str, base: str = TP) -> dict[str, Any]:
    reply = send(
        emulator,
        "GET",
        f"{base}/tasks/{task_id}",
        None,
        {"Authorization": f"Bearer {emulator.api_key}"},
    )
    assert reply.status == 200, reply.raw
    assert reply.headers["x-request-id"] == reply.json["request_id"]
    body: dict[str, Any] = reply.json
    return body


def assert_flat(reply: Reply, status: int, code: str, message: str) -> None:
    """DashScope's flat error body, keys in order, its request id also in `x-request-id`."""
    assert reply.status == status, reply.raw
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json
    assert list(body) == FLAT_KEYS
    assert (body["code"], body["message"]) == (code, message)
    assert UUID.match(body["request_id"])
    assert reply.headers["x-request-id"] == body["request_id"]


def assert_oss_error(reply: Reply, status: int, code: str, message: str) -> None:
    """What OSS answers for a signed URL it will not serve: an XML <Error>."""
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(reply.raw)
    assert root.tag == "Error"
    assert [child.tag for child in root] == ["Code", "Message", "RequestId"]
    assert (root.findtext("Code"), root.findtext("Message")) == (code, message)
    assert root.findtext("RequestId")


# ---- PNG ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    pixels: bytes  # the decompressed scanlines: a filter byte and width x RGB per row


def decode_png(data: bytes) -> Png:
    """Parse a PNG chunk by chunk (CRCs checked) and inflate its pixel data: 8-bit RGB,
    not interlaced, one filter byte and 3 bytes per pixel on every row."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, kinds, idat, header = 8, [], b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + chunk) & 0xFFFFFFFF, kind
        kinds.append(kind)
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    assert position == len(data)
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", header
    )
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    pixels = zlib.decompress(idat)
    assert len(pixels) == height * (1 + 3 * width)
    return Png(width, height, pixels)


def png_size(data: bytes) -> tuple[int, int]:
    """The IHDR's width and height, without inflating the pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def picture(emulator: RunningEmulator, url: str) -> bytes:
    """The PNG behind an image URL: fetched like a browser would, with no key."""
    reply = send(emulator, "GET", url)
    assert reply.status == 200, reply.raw
    assert reply.headers["Content-Type"] == "image/png"
    return reply.raw


def difference(a: Png, b: Png) -> float:
    """The share of pixel bytes that differ."""
    assert len(a.pixels) == len(b.pixels)
    return sum(x != y for x, y in zip(a.pixels, b.pixels, strict=True)) / len(a.pixels)


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def emulator(emulator_factory: Factory) -> RunningEmulator:
    return emulator_factory(clock=CLOCK)


@pytest.fixture
def admin(emulator: RunningEmulator) -> Admin:
    return Admin(emulator)


@pytest.fixture
def sdk(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    """The dashscope SDK pointed at the emulator the way its docs point it at another region:
    `dashscope.base_http_api_url` and `dashscope.api_key` (both put back afterwards)."""
    monkeypatch.setattr(dashscope, "base_http_api_url", emulator.url + TP)
    monkeypatch.setattr(dashscope, "api_key", emulator.api_key)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield emulator
    dashscope.close_shared_sync_session()  # its pooled connections to this emulator


def serve(factory: Factory, tmp_path: Path, rules: str) -> RunningEmulator:
    """An emulator on a one-scenario file with these rules, on the frozen clock."""
    body = textwrap.indent(textwrap.dedent(rules).strip("\n"), "    ")
    path = tmp_path / "images.yaml"
    path.write_text(f"s:\n  clock: {CLOCK}\n  rules:\n{body}\n", "utf-8")
    return factory(load_scenario("s", path))


# ---- response shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", QWEN)
def test_qwen_image_answer_field_by_field(emulator: RunningEmulator, model: str) -> None:
    """§5.2: one choice whose content lists `{"image": url}` per image; usage image_count,
    width, height; no task_metric for the 2.0 series."""
    reply = post(emulator, request_body(model, size="1664*928", n=2, seed=42))
    assert reply.status == 200, reply.raw
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json
    assert list(body) == ["output", "usage", "request_id"]
    assert UUID.match(body["request_id"])
    assert reply.headers["x-request-id"] == body["request_id"]
    assert list(body["output"]) == ["choices"]
    [choice] = body["output"]["choices"]
    assert list(choice) == ["finish_reason", "message"]
    assert choice["finish_reason"] == "stop"
    assert list(choice["message"]) == ["role", "content"]
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert [list(item) for item in content] == [["image"], ["image"]]
    urls = image_urls(body)
    assert len(set(urls)) == 2
    for url in urls:
        match = URL.match(url)
        assert match, url
        assert int(match.group(1)) == CLOCK_EPOCH + DAY  # valid 24 h
    assert body["usage"] == {"image_count": 2, "width": 1664, "height": 928}
    assert list(body["usage"]) == ["image_count", "width", "height"]


@pytest.mark.parametrize("model", WAN)
def test_wan_answer_field_by_field(emulator: RunningEmulator, model: str) -> None:
    """§5.3: content items `{"image", "type": "image"}`, `output.finished`, and usage with
    image_count, input/output/total tokens and size "W*H"."""
    prompt = "a lighthouse at dusk"
    reply = post(emulator, request_body(model, prompt, size="1K", n=3))
    assert reply.status == 200, reply.raw
    body = reply.json
    assert list(body) == ["output", "usage", "request_id"]
    assert reply.headers["x-request-id"] == body["request_id"]
    assert list(body["output"]) == ["choices", "finished"]
    assert body["output"]["finished"] is True
    [choice] = body["output"]["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert [list(item) for item in content] == [["image", "type"]] * 3
    assert {item["type"] for item in content} == {"image"}
    assert all(URL.match(item["image"]) for item in content)
    usage = body["usage"]
    assert list(usage) == ["image_count", "input_tokens", "output_tokens", "total_tokens", "size"]
    assert usage["image_count"] == 3
    assert usage["size"] == "1024*1024"
    assert usage["input_tokens"] == tokens.count(prompt) > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("qwen-image-2.0", "2048*2048"),
        ("wan2.7-image", "2048*2048"),
        ("wan2.7-image-pro", "2048*2048"),
    ],
)
def test_defaults_are_one_image_of_the_documented_size(
    emulator: RunningEmulator, model: str, size: str
) -> None:
    """No `parameters` at all: qwen's default size 2048*2048, wan's 2K; n 1 (wan: the EN page)."""
    body = generate(emulator, model)
    [url] = image_urls(body)
    width, height = (int(side) for side in size.split("*"))
    assert png_size(picture(emulator, url)) == (width, height)
    assert body["usage"]["image_count"] == 1


# ---- the pictures ---------------------------------------------------------------------------


PNG_CASES = [
    ("qwen-image-2.0", "1664*928", 1664, 928),  # the documented sample's size
    ("qwen-image-2.0-pro", "512*512", 512, 512),  # the smallest
    ("qwen-image-2.0", "928*1664", 928, 1664),
    ("wan2.7-image", "1K", 1024, 1024),
    ("wan2.7-image", "768*768", 768, 768),  # wan's smallest
    ("wan2.7-image-pro", "2K", 2048, 2048),
    ("wan2.7-image-pro", "3000*2000", 3000, 2000),  # over 2048*2048: pro text-to-image only
    ("wan2.7-image-pro", "4K", 4096, 4096),
]


@pytest.mark.parametrize(("model", "size", "width", "height"), PNG_CASES)
def test_pictures_are_real_pngs_of_the_requested_size(
    emulator: RunningEmulator, model: str, size: str, width: int, height: int
) -> None:
    body = generate(emulator, model, size=size, seed=7)
    [url] = image_urls(body)
    png = decode_png(picture(emulator, url))
    assert (png.width, png.height) == (width, height)
    if model in WAN:
        assert body["usage"]["size"] == f"{width}*{height}"
    else:
        assert (body["usage"]["width"], body["usage"]["height"]) == (width, height)


def test_same_prompt_seed_and_size_give_the_same_picture(
    emulator_factory: Factory, emulator: RunningEmulator
) -> None:
    """Deterministic from (prompt, seed, size): across requests, models and emulators."""
    first = picture(
        emulator, image_urls(generate(emulator, "qwen-image-2.0", size="512*512", seed=5))[0]
    )
    again = generate(emulator, "qwen-image-2.0-pro", size="512*512", seed=5, n=2, watermark=True)
    assert picture(emulator, image_urls(again)[0]) == first
    elsewhere = emulator_factory(clock="2026-06-01T00:00:00Z", seed=99)
    body = generate(elsewhere, "qwen-image-2.0", size="512*512", seed=5)
    assert picture(elsewhere, image_urls(body)[0]) == first


def test_another_prompt_or_seed_gives_a_visibly_different_picture(
    emulator: RunningEmulator,
) -> None:
    def draw(prompt: str, seed: int) -> Png:
        body = generate(emulator, "wan2.7-image", prompt=prompt, size="768*768", seed=seed)
        return decode_png(picture(emulator, image_urls(body)[0]))

    fox = draw("a red fox", 1)
    assert difference(fox, draw("a blue whale", 1)) > 0.5
    assert difference(fox, draw("a red fox ", 1)) > 0.5  # one character is enough
    assert difference(fox, draw("a red fox", 2)) > 0.5


@pytest.mark.parametrize(("model", "n"), [("qwen-image-2.0", 6), ("wan2.7-image-pro", 4)])
def test_n_images_give_n_distinct_urls_and_pictures(
    emulator: RunningEmulator, model: str, n: int
) -> None:
    size = "512*512" if model in QWEN else "768*768"
    body = generate(emulator, model, size=size, n=n, seed=3)
    urls = image_urls(body)
    assert len(urls) == len(set(urls)) == n == body["usage"]["image_count"]
    pictures = [picture(emulator, url) for url in urls]
    assert len(set(pictures)) == n
    assert {png_size(p) for p in pictures} == {(int(size.split("*")[0]),) * 2}


def test_urls_stop_working_24_hours_later(emulator: RunningEmulator, admin: Admin) -> None:
    [url] = image_urls(generate(emulator, "qwen-image-2.0", size="512*512"))
    admin.advance("+86399s")
    assert picture(emulator, url)
    admin.advance("+1s")
    assert_oss_error(send(emulator, "GET", url), 403, "AccessDenied", "Request has expired.")
    # Still 403 once a later request has let the emulator forget the picture (OSS checks the
    # signed URL's expiry before it looks the object up).
    generate(emulator, "qwen-image-2.0", size="512*512")
    assert_oss_error(send(emulator, "GET", url), 403, "AccessDenied", "Request has expired.")


def test_an_unknown_picture_is_404(emulator: RunningEmulator) -> None:
    [url] = image_urls(generate(emulator, "qwen-image-2.0", size="512*512"))
    unknown = re.sub(r"/[0-9a-f]{32}\.png", "/" + "0" * 32 + ".png", url)
    reply = send(emulator, "GET", unknown)
    assert_oss_error(reply, 404, "NoSuchKey", "The specified key does not exist.")


def test_big_pictures_do_not_stall_other_requests(emulator: RunningEmulator) -> None:
    """Generating a 4096 x 4096 and a 2048 x 2048 picture paints nothing; fetching them paints
    them off the event loop, so small chat requests sent meanwhile keep being answered promptly
    (a painter on the loop would hold the first of them until the PNG was done)."""
    started = time.perf_counter()
    big = image_urls(generate(emulator, "wan2.7-image-pro", size="4K", seed=1))
    big += image_urls(generate(emulator, "qwen-image-2.0", size="2048*2048", seed=1))
    assert time.perf_counter() - started < 1.0  # nothing painted yet
    sizes: list[tuple[int, int]] = []

    def fetch() -> None:
        sizes.extend(png_size(picture(emulator, url)) for url in big)

    fetching = threading.Thread(target=fetch)
    fetching.start()
    time.sleep(0.01)
    waits: list[float] = []
    while fetching.is_alive():
        asked = time.perf_counter()
        chat = send(
            emulator,
            "POST",
            "/compatible-mode/v1/chat/completions",
            {"model": "qwen3.6-plus", "messages": [{"role": "user", "content": "hi"}]},
            {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"},
        )
        assert chat.status == 200, chat.raw
        waits.append(time.perf_counter() - asked)
    fetching.join()
    assert sizes == [(4096, 4096), (2048, 2048)]
    # Many chats were answered while the pictures were being painted (a painter on the loop
    # lets one through per picture), each in a fraction of the time one 4096 x 4096 paint takes
    # on this machine now (measured here, so load slows both alike).
    painted = time.perf_counter()
    paint("a red fox", 1, 4096, 4096)
    painting = time.perf_counter() - painted
    assert len(waits) >= 5, waits
    assert sorted(waits)[len(waits) // 2] < painting / 4, (painting, waits)


# ---- async tasks ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", WAN)
def test_a_task_moves_pending_running_succeeded_with_the_clock(
    emulator_factory: Factory, model: str
) -> None:
    emulator = emulator_factory(clock="2026-05-01T00:00:00.250Z")
    admin = Admin(emulator)
    created = post(
        emulator, request_body(model, size="1K", n=2, seed=9), endpoint=ASYNC, asynchronous=True
    )
    assert created.status == 200, created.raw
    body = created.json
    assert list(body) == ["request_id", "output"]
    assert body["output"] == {"task_id": body["output"]["task_id"], "task_status": "PENDING"}
    task_id = body["output"]["task_id"]
    assert UUID.match(task_id)

    pending = task(emulator, task_id)
    assert list(pending) == ["request_id", "output"]
    assert pending["output"] == {
        "task_id": task_id,
        "task_status": "PENDING",
        "submit_time": "2026-05-01 00:00:00.250",
    }
    admin.advance("+0.9s")
    assert task(emulator, task_id)["output"]["task_status"] == "PENDING"
    admin.advance("+0.1s")
    running = task(emulator, task_id)
    assert running["output"] == {
        "task_id": task_id,
        "task_status": "RUNNING",
        "submit_time": "2026-05-01 00:00:00.250",
        "scheduled_time": "2026-05-01 00:00:01.250",
    }
    admin.advance("+3.9s")
    assert task(emulator, task_id)["output"]["task_status"] == "RUNNING"
    admin.advance("+0.1s")
    done = task(emulator, task_id)
    assert list(done) == ["request_id", "output", "usage"]
    output = done["output"]
    assert list(output) == [
        "task_id",
        "task_status",
        "submit_time",
        "scheduled_time",
        "end_time",
        "finished",
        "choices",
    ]
    assert output["task_status"] == "SUCCEEDED"
    assert output["end_time"] == "2026-05-01 00:00:05.250"
    assert output["finished"] is True
    content = output["choices"][0]["message"]["content"]
    assert [item["type"] for item in content] == ["image", "image"]
    assert done["usage"]["image_count"] == 2 and done["usage"]["size"] == "1024*1024"
    pictures = [picture(emulator, item["image"]) for item in content]
    assert [png_size(p) for p in pictures] == [(1024, 1024)] * 2
    # The same request answered synchronously paints the same pictures.
    sync = generate(emulator, model, size="1K", n=2, seed=9)
    assert [picture(emulator, url) for url in image_urls(sync)] == pictures


def test_tasks_and_their_urls_expire_after_24_hours(
    emulator: RunningEmulator, admin: Admin
) -> None:
    created = post(
        emulator, request_body("wan2.7-image", size="1K"), endpoint=ASYNC, asynchronous=True
    )
    task_id = created.json["output"]["task_id"]
    admin.advance("+5s")
    [item] = task(emulator, task_id)["output"]["choices"][0]["message"]["content"]
    admin.advance("+86394s")
    assert task(emulator, task_id)["output"]["task_status"] == "SUCCEEDED"
    admin.advance("+1s")
    gone = task(emulator, task_id)
    assert gone["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    assert "usage" not in gone
    assert send(emulator, "GET", item["image"]).status == 403


@pytest.mark.parametrize("base", [TP, PAYG])
def test_an_unknown_task_is_unknown(emulator: RunningEmulator, admin: Admin, base: str) -> None:
    key = emulator.api_key if base == TP else admin.state()["payg"]["key"]
    reply = send(
        emulator, "GET", f"{base}/tasks/no-such-task", None, {"Authorization": f"Bearer {key}"}
    )
    assert reply.status == 200
    assert reply.json["output"] == {"task_id": "no-such-task", "task_status": "UNKNOWN"}


@pytest.mark.parametrize("header", [None, "disable", ""])
def test_the_async_endpoint_needs_the_async_header(
    emulator: RunningEmulator, admin: Admin, header: str | None
) -> None:
    headers = {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"}
    if header is not None:
        headers["X-DashScope-Async"] = header
    reply = send(emulator, "POST", TP + ASYNC, request_body("wan2.7-image"), headers)
    assert_flat(reply, 403, "AccessDenied", "current user api does not support synchronous calls")
    assert admin.last()["cost"] == "0"


@pytest.mark.parametrize("model", [*QWEN, "qwen3.6-plus"])
def test_only_wan_runs_as_a_task(emulator: RunningEmulator, model: str) -> None:
    reply = post(emulator, request_body(model), endpoint=ASYNC, asynchronous=True)
    assert_flat(reply, 404, "ModelNotFound", f"model '{model}' not found or not supported")


# ---- validation -----------------------------------------------------------------------------


def long_prompt(limit: int) -> str:
    """A prompt of exactly `limit` tokens (the emulator's counter)."""
    prompt = " ".join(["fox"] * limit)
    assert tokens.count(prompt) == limit
    return prompt


def messages(*items: dict[str, Any], role: str = "user") -> dict[str, Any]:
    return {"messages": [{"role": role, "content": list(items)}]}


def with_input(model: str, value: Any) -> dict[str, Any]:
    return {"model": model, "input": value}


def size_range(low: int, high: int) -> str:
    return f"{INVALID}Range of size should be [{low}*{low}, {high}*{high}]"


SYNTAX = f"{INVALID}size must be written as width*height, e.g. 1024*1024"
ONE_TEXT = f"{INVALID}input.messages[0].content must hold exactly one text item"
ONE_MESSAGE = f"{INVALID}input.messages must hold exactly one message"
ROLE = f"{INVALID}input.messages[0].role must be user"
NOT_A_PICTURE = f"{INVALID}The image must be a URL or a data URI"

INVALID_CASES: list[tuple[str, dict[str, Any], str]] = [
    # size out of range
    ("qwen-small", request_body("qwen-image-2.0", size="511*512"), size_range(512, 2048)),
    ("qwen-big", request_body("qwen-image-2.0-pro", size="2048*2049"), size_range(512, 2048)),
    ("wan-small", request_body("wan2.7-image", size="767*768"), size_range(768, 2048)),
    ("wan-big", request_body("wan2.7-image", size="3000*2000"), size_range(768, 2048)),
    ("wan-pro-big", request_body("wan2.7-image-pro", size="4097*4096"), size_range(768, 4096)),
    ("wan-4K", request_body("wan2.7-image", size="4K"), f"{INVALID}size 4K is not supported here"),
    # bad size syntax
    ("syntax-x", request_body("qwen-image-2.0", size="1024x1024"), SYNTAX),
    ("syntax-half", request_body("wan2.7-image", size="1024*"), SYNTAX),
    ("syntax-word", request_body("wan2.7-image", size="big"), SYNTAX),
    ("syntax-lower-k", request_body("wan2.7-image", size="1k"), SYNTAX),
    ("qwen-preset", request_body("qwen-image-2.0", size="1K"), SYNTAX),  # W*H only for qwen
    ("size-number", request_body("qwen-image-2.0", size=1024), f"{INVALID}'size' must be String"),
    # n out of range
    ("qwen-n-0", request_body("qwen-image-2.0", n=0), f"{INVALID}Range of n should be [1, 6]"),
    ("qwen-n-7", request_body("qwen-image-2.0-pro", n=7), f"{INVALID}Range of n should be [1, 6]"),
    ("wan-n-5", request_body("wan2.7-image", n=5), f"{INVALID}Range of n should be [1, 4]"),
    ("wan-pro-n-5", request_body("wan2.7-image-pro", n=5), f"{INVALID}Range of n should be [1, 4]"),
    ("n-string", request_body("wan2.7-image", n="2"), f"{INVALID}'n' must be Integer"),
    # prompt too long (qwen counts tokens, wan characters), or empty
    (
        "qwen-1301-tokens",
        request_body("qwen-image-2.0", long_prompt(1301)),
        f"{INVALID}Range of input length should be [1, 1300]",
    ),
    (
        "wan-5001-chars",
        request_body("wan2.7-image", "x" * 5001),
        f"{INVALID}Range of input length should be [1, 5000]",
    ),
    (
        "empty",
        request_body("qwen-image-2.0", ""),
        f"{INVALID}Range of input length should be [1, 1300]",
    ),
    (
        "negative-prompt",
        request_body("qwen-image-2.0", negative_prompt="n" * 501),
        f"{INVALID}Range of negative_prompt should be [0, 500]",
    ),
    # the message's shape
    ("no-text", with_input("qwen-image-2.0", messages({"image": REFERENCE})), ONE_TEXT),
    ("two-texts", with_input("wan2.7-image", messages({"text": "a"}, {"text": "b"})), ONE_TEXT),
    (
        "two-messages",
        with_input(
            "qwen-image-2.0",
            {"messages": [messages({"text": "a"})["messages"][0]] * 2},
        ),
        ONE_MESSAGE,
    ),
    ("no-messages", with_input("qwen-image-2.0", {"messages": []}), ONE_MESSAGE),
    ("no-input", {"model": "qwen-image-2.0"}, ONE_MESSAGE),
    ("role-assistant", with_input("wan2.7-image", messages({"text": "a"}, role="assistant")), ROLE),
    ("role-system", with_input("qwen-image-2.0", messages({"text": "a"}, role="system")), ROLE),
    (
        "content-string",
        with_input("qwen-image-2.0", {"messages": [{"role": "user", "content": "a fox"}]}),
        f"{INVALID}input.messages[0].content must be a list",
    ),
    (
        "video-item",
        with_input("wan2.7-image", messages({"text": "a"}, {"video": REFERENCE})),
        f"{INVALID}input.messages[0].content items must be text or image",
    ),
    # reference images
    (
        "qwen-4-images",
        request_body("qwen-image-2.0", images=(REFERENCE,) * 4),
        f"{INVALID}Range of image number should be [0, 3]",
    ),
    (
        "wan-10-images",
        request_body("wan2.7-image", images=(REFERENCE,) * 10),
        f"{INVALID}Range of image number should be [0, 9]",
    ),
    (
        "bad-base64",
        request_body("wan2.7-image", images=("data:image/png;base64,@@not base64@@",)),
        f"{INVALID}The image data is not valid base64",
    ),
    (
        "gif",
        request_body("qwen-image-2.0", images=("data:image/gif;base64,R0lGODlhAQABAAAAACw=",)),
        f"{INVALID}The image format 'gif' is not supported",
    ),
    ("not-a-uri", request_body("wan2.7-image", images=("data:text/plain,hello",)), NOT_A_PICTURE),
    ("ftp", request_body("wan2.7-image", images=("ftp://example.com/a.png",)), NOT_A_PICTURE),
    ("image-number", request_body("wan2.7-image", images=(42,)), NOT_A_PICTURE),  # type: ignore[arg-type]
    (
        "4K-with-image",
        request_body("wan2.7-image-pro", images=(REFERENCE,), size="4K"),
        f"{INVALID}size 4K is not supported here",
    ),
    (
        "pro-over-2K-with-image",
        request_body("wan2.7-image-pro", images=(REFERENCE,), size="3000*2000"),
        size_range(768, 2048),
    ),
    # other parameters
    (
        "seed",
        request_body("qwen-image-2.0", seed=-1),
        "-1 is lesser than the minimum of 0 - 'seed'",
    ),
    (
        "watermark",
        request_body("qwen-image-2.0", watermark="no"),
        f"{INVALID}'watermark' must be Boolean",
    ),
    (
        "parameters",
        {**request_body("qwen-image-2.0"), "parameters": [1]},
        f"{INVALID}'parameters' must be Object",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"),
    [case[1:] for case in INVALID_CASES],
    ids=[case[0] for case in INVALID_CASES],
)
def test_invalid_requests_get_the_flat_400_and_cost_nothing(
    emulator: RunningEmulator, admin: Admin, body: dict[str, Any], message: str
) -> None:
    """On the sync endpoint, and for wan2.7 on the async one too (the same checks, made
    before any task is created)."""
    assert_flat(post(emulator, body), 400, "InvalidParameter", message)
    if body["model"].startswith("wan"):
        reply = post(emulator, body, endpoint=ASYNC, asynchronous=True)
        assert_flat(reply, 400, "InvalidParameter", message)
    for entry in admin.journal():
        assert (entry["status"], entry["cost"], entry["charged"]) == (400, "0", "0")
    assert credits(admin.seat()["used"]) == 0
    assert not emulator.runtime.gallery.pictures and not emulator.runtime.gallery.tasks


@pytest.mark.parametrize(
    "body",
    [
        request_body("qwen-image-2.0", long_prompt(1300), size="512*512"),
        request_body("wan2.7-image", "x" * 5000, size="1K"),  # over 1,300 tokens: wan counts chars
        request_body("qwen-image-2.0", images=(REFERENCE, TINY_PNG, REFERENCE), size="512*512"),
        request_body("wan2.7-image", images=(REFERENCE,) * 8 + (TINY_PNG,), size="1K"),
        request_body("wan2.7-image-pro", images=(REFERENCE,), size="2048*2048"),
        request_body("wan2.7-image", size="1K", prompt_extend=False, thinking_mode=True, seed=0),
        request_body("qwen-image-2.0", size="512*512", seed=2147483647, negative_prompt="n" * 500),
    ],
    ids=[
        "qwen-1300-tokens",
        "wan-5000-chars",
        "qwen-3-images",
        "wan-9-images",
        "pro-2K-edit",
        "wan-flags",
        "qwen-limits",
    ],
)
def test_requests_at_the_limits_are_accepted(
    emulator: RunningEmulator, body: dict[str, Any]
) -> None:
    reply = post(emulator, body)
    assert reply.status == 200, reply.raw


@pytest.mark.parametrize(
    "model", ["qwen3.6-plus", "qwen-image-2", "Qwen-Image-2.0", "WAN2.7-image"]
)
def test_a_text_or_unknown_model_on_the_image_endpoint(
    emulator: RunningEmulator, model: str
) -> None:
    reply = post(emulator, request_body(model))
    assert_flat(reply, 404, "ModelNotFound", f"model '{model}' not found or not supported")


def test_no_model_on_the_image_endpoint(emulator: RunningEmulator) -> None:
    body = request_body("qwen-image-2.0")
    del body["model"]
    assert_flat(
        post(emulator, body), 400, "InvalidParameter", "you must provide a model parameter."
    )


@pytest.mark.parametrize("model", [*QWEN, *WAN])
def test_an_image_model_on_the_text_endpoints(emulator: RunningEmulator, model: str) -> None:
    """Text base URLs cannot call image models (§1.7): OpenAI's and Anthropic's 404 bodies."""
    headers = {"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"}
    user = [{"role": "user", "content": "draw a fox"}]
    chat = send(
        emulator,
        "POST",
        "/compatible-mode/v1/chat/completions",
        {"model": model, "messages": user},
        headers,
    )
    assert chat.status == 404
    assert chat.json["error"]["code"] == "model_not_found"
    assert chat.json["error"]["message"] == f"model '{model}' not found or not supported"
    body = {"model": model, "max_tokens": 64, "messages": user}
    claude = send(emulator, "POST", "/apps/anthropic/v1/messages", body, headers)
    assert claude.status == 404
    assert claude.json["error"]["type"] == "not_found_error"


# ---- Credits ----------------------------------------------------------------------------------


def rate(model: str) -> Decimal:
    image_model = default_catalog().image_model(model)
    assert image_model is not None
    return Decimal(image_model.credits_per_image)


def test_per_image_rates_are_the_documented_assumptions() -> None:
    """Not published: docs/fidelity.md's choice, set in models.yaml."""
    assert [rate(model) for model in (*QWEN, *WAN)] == [40, 80, 40, 80]


@pytest.mark.parametrize(
    ("model", "n"),
    [
        ("qwen-image-2.0", 3),
        ("qwen-image-2.0-pro", 1),
        ("wan2.7-image", 4),
        ("wan2.7-image-pro", 2),
    ],
)
def test_each_image_is_charged_to_the_seat(
    emulator: RunningEmulator, admin: Admin, model: str, n: int
) -> None:
    size = "512*512" if model in QWEN else "1K"
    generate(emulator, model, size=size, n=n)
    entry = admin.last()
    assert (entry["model"], entry["plan"], entry["protocol"], entry["seat"]) == (
        model,
        "token_plan",
        "dashscope",
        "seat-1",
    )
    assert credits(entry["cost"]) == credits(entry["charged"]) == n * rate(model)
    assert credits(admin.seat()["used"]) == n * rate(model)


def test_a_task_is_charged_once_when_created(emulator: RunningEmulator, admin: Admin) -> None:
    created = post(
        emulator,
        request_body("wan2.7-image-pro", size="1K", n=3),
        endpoint=ASYNC,
        asynchronous=True,
    )
    assert created.status == 200
    assert credits(admin.last()["cost"]) == 3 * rate("wan2.7-image-pro")
    for _ in range(3):
        task(emulator, created.json["output"]["task_id"])
        admin.advance("+3s")
    assert [credits(e["cost"]) for e in admin.journal()] == [240, 0, 0, 0]
    assert credits(admin.seat()["used"]) == 240


def test_failed_requests_cost_nothing(emulator: RunningEmulator, admin: Admin) -> None:
    post(emulator, request_body("qwen-image-2.0", size="1*1"))
    post(emulator, request_body("qwen3.6-plus"))
    post(emulator, request_body("wan2.7-image"), endpoint=ASYNC)
    post(emulator, request_body("wan2.7-image", n=9), endpoint=ASYNC, asynchronous=True)
    post(emulator, request_body("wan2.7-image"), key="sk-sp-" + "0" * 32)
    statuses = [(e["status"], e["cost"]) for e in admin.journal()]
    assert statuses == [(400, "0"), (404, "0"), (403, "0"), (400, "0"), (401, "0")]
    assert credits(admin.seat()["used"]) == 0


def test_pay_as_you_go_never_touches_the_ledger(emulator: RunningEmulator, admin: Admin) -> None:
    payg = admin.state()["payg"]["key"]
    books = admin.books()
    body = post(emulator, request_body("qwen-image-2.0", size="512*512", n=2), base=PAYG, key=payg)
    assert body.status == 200, body.raw
    [url, _] = image_urls(body.json)
    assert png_size(picture(emulator, url)) == (512, 512)
    created = post(
        emulator,
        request_body("wan2.7-image", size="1K"),
        endpoint=ASYNC,
        base=PAYG,
        key=payg,
        asynchronous=True,
    )
    assert created.status == 200
    admin.advance("+5s")
    reply = send(
        emulator,
        "GET",
        f"{PAYG}/tasks/{created.json['output']['task_id']}",
        None,
        {"Authorization": f"Bearer {payg}"},
    )
    assert reply.json["output"]["task_status"] == "SUCCEEDED"
    assert [(e["plan"], e["cost"]) for e in admin.journal()] == [("payg", "0")] * 3
    assert admin.books() == books
    # The Token Plan key is refused on pay-as-you-go's base, as on its text paths.
    assert post(emulator, request_body("qwen-image-2.0"), base=PAYG).status == 401


def test_a_spent_plan_is_refused_with_429(emulator_factory: Factory) -> None:
    emulator = emulator_factory(clock=CLOCK, seats=(SeatConfig("alice", "pro", used=100_000),))
    admin = Admin(emulator)
    sync = post(emulator, request_body("qwen-image-2.0", size="512*512"))
    assert_flat(sync, 429, "Throttling.AllocationQuota", QUOTA)
    task_reply = post(emulator, request_body("wan2.7-image"), endpoint=ASYNC, asynchronous=True)
    assert_flat(task_reply, 429, "Throttling.AllocationQuota", QUOTA)
    assert [(e["status"], e["cost"]) for e in admin.journal()] == [(429, "0")] * 2
    assert not emulator.runtime.gallery.pictures and not emulator.runtime.gallery.tasks
    assert credits(admin.seat()["used"]) == 100_000


# ---- scenario rules and faults --------------------------------------------------------------


def test_a_rule_answers_image_requests_with_a_flat_error(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: busy, times: 1, match: {protocol: dashscope}, error: rate_limited}
        - name: no-wan
          match: {model: wan2.7-image-pro}
          error: {kind: model_not_found, model: "{model}"}
        """,
    )
    admin = Admin(emulator)
    limited = post(emulator, request_body("qwen-image-2.0", size="512*512"))
    assert_flat(
        limited,
        429,
        "Throttling.RateQuota",
        "Requests rate limit exceeded, please try again later.",
    )
    assert post(emulator, request_body("qwen-image-2.0", size="512*512")).status == 200  # once
    refused = post(emulator, request_body("wan2.7-image-pro"), endpoint=ASYNC, asynchronous=True)
    assert_flat(
        refused, 404, "ModelNotFound", "model 'wan2.7-image-pro' not found or not supported"
    )
    journal = admin.journal()
    assert [(e["rule"], e["status"]) for e in journal] == [
        ("busy", 429),
        (None, 200),
        ("no-wan", 404),
    ]
    assert [credits(e["cost"]) for e in journal] == [0, rate("qwen-image-2.0"), 0]


def test_a_rule_matches_the_image_prompt(emulator_factory: Factory, tmp_path: Path) -> None:
    """`last_user` sees the prompt of an image request (under `input.messages`)."""
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: no-foxes, match: {last_user: "(?i)fox"}, error: data_inspection_failed}
        """,
    )
    refused = post(emulator, request_body("qwen-image-2.0", size="512*512"))
    assert_flat(
        refused, 400, "DataInspectionFailed", "Input text data may contain inappropriate content."
    )
    allowed = post(emulator, request_body("qwen-image-2.0", prompt="a cat", size="512*512"))
    assert allowed.status == 200


def test_faults_apply_to_image_requests(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = serve(
        emulator_factory,
        tmp_path,
        """
        - {name: gone, match: {model: qwen-image-2.0-pro}, fault: {drop: true}}
        - {name: slow, match: {model: wan2.7-image}, fault: {latency: 0.2}}
        - {name: down, match: {model: qwen-image-2.0}, fault: {status: 503}}
        """,
    )
    admin = Admin(emulator)
    host, port = emulator.url.removeprefix("http://").split(":")
    payload = json.dumps(request_body("qwen-image-2.0-pro")).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST {TP}{SYNC} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {emulator.api_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        assert sock.recv(65536) == b""  # no status line at all
    started = time.perf_counter()
    assert post(emulator, request_body("wan2.7-image", size="1K")).status == 200
    assert time.perf_counter() - started >= 0.2
    down = post(emulator, request_body("qwen-image-2.0"))
    assert down.status == 503
    journal = admin.journal()
    assert [(e["rule"], e["status"], e["error"]) for e in journal] == [
        ("gone", 499, "fault:drop"),
        ("slow", 200, None),
        ("down", 503, "fault:status 503"),
    ]
    assert [credits(e["cost"]) for e in journal] == [0, rate("wan2.7-image"), 0]


# ---- the dashscope SDK ----------------------------------------------------------------------


def sdk_messages(prompt: str = "a red fox in the snow") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": prompt}]}]


@pytest.mark.parametrize("model", [*QWEN, *WAN])
def test_sdk_multimodal_conversation_generates_pictures(sdk: RunningEmulator, model: str) -> None:
    """`dashscope.MultiModalConversation.call` posts to the sync endpoint of both families."""
    size = "1024*1024" if model in QWEN else "1K"
    response = dashscope.MultiModalConversation.call(
        model=model, messages=sdk_messages(), size=size, n=2, seed=11, watermark=False
    )
    assert response.status_code == 200, response
    assert UUID.match(response.request_id)
    choice = response.output["choices"][0]
    assert choice["finish_reason"] == "stop"
    urls = [item["image"] for item in choice["message"]["content"]]
    assert len(urls) == 2 and all(URL.match(url) for url in urls)
    assert response.usage["image_count"] == 2
    if model in WAN:
        assert response.output["finished"] is True
        assert response.usage["size"] == "1024*1024"
        assert [item["type"] for item in choice["message"]["content"]] == ["image"] * 2
    else:
        assert (response.usage["width"], response.usage["height"]) == (1024, 1024)
    png = decode_png(picture(sdk, urls[0]))
    assert (png.width, png.height) == (1024, 1024)
    # the same recipe over raw HTTP paints the same picture
    raw = generate(sdk, model, size=size, n=1, seed=11)
    assert picture(sdk, image_urls(raw)[0]) == picture(sdk, urls[0])


def test_sdk_errors_carry_the_flat_body(sdk: RunningEmulator) -> None:
    bad = dashscope.MultiModalConversation.call(
        model="qwen-image-2.0", messages=sdk_messages(), n=7
    )
    assert (bad.status_code, bad.code) == (400, "InvalidParameter")
    assert bad.message == f"{INVALID}Range of n should be [1, 6]"
    assert UUID.match(bad.request_id)
    text = dashscope.MultiModalConversation.call(model="qwen3.6-plus", messages=sdk_messages())
    assert (text.status_code, text.code) == (404, "ModelNotFound")
    assert text.message == "model 'qwen3.6-plus' not found or not supported"


def test_sdk_per_call_base_address_on_pay_as_you_go(sdk: RunningEmulator) -> None:
    """`base_address=` points one call elsewhere: here pay-as-you-go's base with its key."""
    payg = Admin(sdk).state()["payg"]["key"]
    response = dashscope.MultiModalConversation.call(
        model="wan2.7-image",
        messages=sdk_messages(),
        size="1K",
        api_key=payg,
        base_address=sdk.url + PAYG,
    )
    assert response.status_code == 200, response
    assert Admin(sdk).last()["plan"] == "payg"


@pytest.mark.parametrize("model", WAN)
def test_sdk_image_generation_task_fetch_and_wait(
    sdk: RunningEmulator, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    """`ImageGeneration.async_call` creates the task (it sends `X-DashScope-Async: enable`),
    `fetch` reads it as the clock moves, and `wait` polls it to the end; the SDK's sleeps are
    turned into moves of the emulator's clock."""
    admin = Admin(sdk)
    created = ImageGeneration.async_call(model=model, messages=sdk_messages(), size="1K", n=2)
    assert created.status_code == 200, created
    assert created.output["task_status"] == "PENDING"
    assert ImageGeneration.fetch(created).output["task_status"] == "PENDING"
    admin.advance("+1s")
    running = ImageGeneration.fetch(created.output["task_id"])
    assert running.output["task_status"] == "RUNNING"
    assert running.output["scheduled_time"] == "2026-05-01 00:00:01.000"

    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        admin.advance(f"+{seconds}s")

    monkeypatch.setattr(
        dashscope.client.base_api, "time", SimpleNamespace(time=time.time, sleep=sleep)
    )
    done = ImageGeneration.wait(created)
    assert done.status_code == 200
    assert done.output["task_status"] == "SUCCEEDED"
    assert done.output["end_time"] == "2026-05-01 00:00:05.000"
    assert sum(slept) >= 4
    assert done.usage["image_count"] == 2 and done.usage["size"] == "1024*1024"
    urls = [item["image"] for item in done.output["choices"][0]["message"]["content"]]
    assert [png_size(picture(sdk, url)) for url in urls] == [(1024, 1024)] * 2
    admin.advance("+1d")
    assert ImageGeneration.wait(created).output["task_status"] == "UNKNOWN"


def test_sdk_image_synthesis_is_not_the_wan27_api(sdk: RunningEmulator) -> None:
    """`ImageSynthesis` speaks the legacy text2image protocol (`input.prompt` to
    `/services/aigc/text2image/image-synthesis`), which wan2.7 does not use: the Token Plan's
    gateway answers an unknown path with its flat 400 "url error"."""
    response = dashscope.ImageSynthesis.async_call(model="wan2.7-image", prompt="a red fox")
    assert (response.status_code, response.code) == (400, "InvalidParameter")
    assert response.message == "url error, please check url!"
    assert Admin(sdk).last()["path"] == f"{TP}/services/aigc/text2image/image-synthesis"
