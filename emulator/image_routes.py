"""The image generation API (docs/sources.md): qwen-image-2.0 and wan2.7-image, synchronous and,
for wan2.7, as async tasks; and the generated PNGs, served at URLs that expire like OSS ones."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from emulator.call import CALL
from emulator.catalog import ImageModel
from emulator.engine.gallery import LIFETIME, QUEUED, RUNNING, Picture, Task
from emulator.engine.images import paint
from emulator.errors import ApiError
from emulator.numerals import ascii_int
from emulator.protocols import dashscope_images, fields
from emulator.protocols.dashscope_images import ImageRequest
from emulator.runtime import RUNTIME, Runtime
from emulator.web import ARRIVED, CALLER, REQUEST_ID, json_response

FILES = "/_emulator/files"
SEED_RANGE = 2**31 - 1
# What OSS answers for an expired or unknown signed URL.
_OSS_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>{code}</Code>\n'
    "  <Message>{message}</Message>\n  <RequestId>{request_id}</RequestId>\n</Error>\n"
)


def _image_model(runtime: Runtime, body: dict[str, Any], family: str | None = None) -> ImageModel:
    model_id = fields.model_id(body)
    model = runtime.catalog.image_model(model_id)
    if model is None or (family is not None and model.family != family):
        raise ApiError("model_not_found", model=model_id)
    return model


def _generate(request: web.Request, image: ImageRequest) -> list[Picture]:
    """Admit the call, record the pictures (painted when fetched) and charge them."""
    runtime = request.app[RUNTIME]
    caller = request[CALLER]
    entry = request[CALL].entry
    entry.model = image.model.id
    runtime.accounts.admit(caller)
    now = request[ARRIVED]
    base_seed = image.seed
    if base_seed is None:  # the service draws one; here it comes from the seeded source
        base_seed = (
            runtime.seeds.integer("image-seed", image.prompt, request[REQUEST_ID]) % SEED_RANGE
        )
    pictures = [
        runtime.gallery.keep(
            Picture(
                id=runtime.seeds.hex(32, "picture", request[REQUEST_ID], index),
                prompt=image.prompt,
                seed=(base_seed + index) % SEED_RANGE,
                width=image.width,
                height=image.height,
                expires=now + LIFETIME,
            )
        )
        for index in range(image.n)
    ]
    charge = runtime.accounts.settle_images(caller, image.model, image.n)
    if charge is not None:
        entry.cost, entry.charged = charge.cost.total, charge.charged
        entry.from_packs = charge.from_packs
    runtime.gallery.forget_before(now)
    return pictures


def _urls(request: web.Request, pictures: list[Picture]) -> list[str]:
    runtime = request.app[RUNTIME]
    origin = str(request.url.origin())
    return [
        f"{origin}{FILES}/{p.id}.png?Expires={int(p.expires)}&OSSAccessKeyId=emulator"
        f"&Signature={runtime.seeds.hex(28, 'signature', p.id)}"
        for p in pictures
    ]


async def multimodal_generation(request: web.Request) -> web.StreamResponse:
    """POST .../multimodal-generation/generation: every image model, answered at once."""
    runtime = request.app[RUNTIME]
    body = fields.parse_object(request[CALL].body)
    image = dashscope_images.parse(body, _image_model(runtime, body))
    pictures = _generate(request, image)
    answer = dashscope_images.generation_body(image, _urls(request, pictures), request[REQUEST_ID])
    return json_response(request, answer)


async def image_generation(request: web.Request) -> web.StreamResponse:
    """POST .../image-generation/generation with `X-DashScope-Async: enable`: a wan2.7 task."""
    runtime = request.app[RUNTIME]
    if request.headers.get("X-DashScope-Async", "").lower() != "enable":
        raise ApiError("async_required")
    body = fields.parse_object(request[CALL].body)
    image = dashscope_images.parse(body, _image_model(runtime, body, family="wan"))
    pictures = _generate(request, image)
    answer = dashscope_images.generation_body(image, _urls(request, pictures), request[REQUEST_ID])
    task = Task(
        id=runtime.seeds.uuid("task", request[REQUEST_ID]),
        submitted=request[ARRIVED],
        result=answer,
        pictures=pictures,
    )
    runtime.gallery.keep_task(task)
    return json_response(request, dashscope_images.task_created_body(task.id, request[REQUEST_ID]))


def _moment(instant: float) -> str:
    """Task times as the service writes them: `2026-03-31 19:57:58.840`."""
    return datetime.fromtimestamp(instant, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


async def task_query(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/tasks/{task_id}: the task's state on the emulator's clock."""
    runtime = request.app[RUNTIME]
    task_id = request.match_info["task_id"]
    task = runtime.gallery.task(task_id)
    status = task.status(runtime.clock.now()) if task is not None else "UNKNOWN"
    output: dict[str, Any] = {"task_id": task_id, "task_status": status}
    answer: dict[str, Any] = {"request_id": request[REQUEST_ID], "output": output}
    if task is None or status == "UNKNOWN":
        return json_response(request, answer)
    output["submit_time"] = _moment(task.submitted)
    if status != "PENDING":
        output["scheduled_time"] = _moment(task.submitted + QUEUED)
    if status == "SUCCEEDED":
        output["end_time"] = _moment(task.submitted + QUEUED + RUNNING)
        output["finished"] = True
        output["choices"] = task.result["output"]["choices"]
        answer["usage"] = task.result["usage"]
    return json_response(request, answer)


async def picture_file(request: web.Request) -> web.StreamResponse:
    """A generated PNG, painted again from its recipe off the event loop, so a 2048 x 2048
    image never stalls other requests; 403 once its URL has expired."""
    runtime = request.app[RUNTIME]
    now = runtime.clock.now()
    found = runtime.gallery.picture(request.match_info["picture"], now)
    # Like OSS, the signed URL's expiry is checked before the object is looked up: an expired
    # URL stays 403 after the gallery has forgotten the picture.
    expires = ascii_int(request.query.get("Expires", ""))  # not a number: not an expiry
    expired = found == "expired" or (expires is not None and now >= expires)
    if expired or not isinstance(found, Picture):
        code, message, status = (
            ("AccessDenied", "Request has expired.", 403)
            if expired
            else ("NoSuchKey", "The specified key does not exist.", 404)
        )
        text = _OSS_ERROR.format(code=code, message=message, request_id=request[REQUEST_ID])
        return web.Response(status=status, text=text, content_type="application/xml")
    png = await asyncio.to_thread(paint, found.prompt, found.seed, found.width, found.height)
    return web.Response(body=png, content_type="image/png")


def add_image_routes(app: web.Application, native_bases: list[str]) -> None:
    for base in native_bases:
        aigc = f"{base}/services/aigc"
        app.router.add_post(f"{aigc}/multimodal-generation/generation", multimodal_generation)
        app.router.add_post(f"{aigc}/image-generation/generation", image_generation)
        app.router.add_get(f"{base}/tasks/{{task_id}}", task_query)
    app.router.add_get(f"{FILES}/{{picture}}.png", picture_file)
