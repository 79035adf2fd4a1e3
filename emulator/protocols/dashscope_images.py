"""DashScope's native image API (docs/sources.md): the multimodal-generation request for the
qwen-image-2.0 and wan2.7-image series, the async image-generation task, and their bodies."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from emulator.catalog import ImageModel
from emulator.engine import tokens
from emulator.errors import invalid, out_of_range
from emulator.protocols import fields

_SIZE = re.compile(r"^([0-9]{2,5})\*([0-9]{2,5})$")  # ASCII: `\d` takes any script's digits
_PRESETS = {"1K": 1024, "2K": 2048, "4K": 4096}
_IMAGE_TYPES = ("jpeg", "jpg", "png", "bmp", "webp")
MAX_NEGATIVE_PROMPT = 500
EDIT_MAX_PIXELS = 2048 * 2048  # wan2.7 with reference images (docs/sources.md)


@dataclass(frozen=True)
class ImageRequest:
    model: ImageModel
    prompt: str
    width: int
    height: int
    n: int = 1
    seed: int | None = None
    negative_prompt: str = ""
    references: int = 0  # reference images sent with the prompt


def parse(body: dict[str, Any], model: ImageModel) -> ImageRequest:
    """A validated image request; ApiError with the documented message otherwise."""
    prompt, references = _message(body.get("input"), model)
    raw_parameters = body.get("parameters")
    if raw_parameters is not None and not isinstance(raw_parameters, dict):
        raise fields.type_error("parameters", "Object")
    parameters: dict[str, Any] = raw_parameters or {}
    width, height = _size(parameters.get("size"), model, references)
    n = fields.int_in(parameters, "n", 1, model.max_n) or 1
    negative = parameters.get("negative_prompt") or ""
    if not isinstance(negative, str):
        raise fields.type_error("negative_prompt", "String")
    if len(negative) > MAX_NEGATIVE_PROMPT:
        raise out_of_range("negative_prompt", f"[0, {MAX_NEGATIVE_PROMPT}]")
    for flag in ("prompt_extend", "watermark", "enable_sequential", "thinking_mode"):
        fields.boolean(parameters, flag)
    return ImageRequest(
        model=model,
        prompt=prompt,
        width=width,
        height=height,
        n=n,
        seed=fields.seed(parameters),
        negative_prompt=negative,
        references=references,
    )


def _message(raw: Any, model: ImageModel) -> tuple[str, int]:
    """The prompt and the number of reference images of the one user message."""
    messages = raw.get("messages") if isinstance(raw, dict) else None
    if not isinstance(messages, list) or len(messages) != 1:
        raise invalid("input.messages must hold exactly one message")
    message = messages[0]
    if not isinstance(message, dict) or message.get("role") != "user":
        raise invalid("input.messages[0].role must be user")
    content = message.get("content")
    if not isinstance(content, list):
        raise invalid("input.messages[0].content must be a list")
    texts = [item["text"] for item in content if isinstance(item, dict) and "text" in item]
    images = [item["image"] for item in content if isinstance(item, dict) and "image" in item]
    if len(texts) != 1 or not isinstance(texts[0], str):
        raise invalid("input.messages[0].content must hold exactly one text item")
    if len(texts) + len(images) != len(content):
        raise invalid("input.messages[0].content items must be text or image")
    prompt = texts[0]
    length = tokens.count(prompt) if model.family == "qwen-image" else len(prompt)
    if not 1 <= length <= model.max_prompt:
        raise invalid(f"Range of input length should be [1, {model.max_prompt}]")
    if len(images) > model.max_images:
        raise invalid(f"Range of image number should be [0, {model.max_images}]")
    for image in images:
        _check_image(image)
    return prompt, len(images)


def _check_image(image: Any) -> None:
    """A reference image: an http(s) URL (not fetched: the emulator is offline) or a data URI
    of a supported type whose base64 decodes."""
    if not isinstance(image, str):
        raise invalid("The image must be a URL or a data URI")
    if image.startswith(("http://", "https://")):
        return
    match = re.match(r"^data:image/([a-z]+);base64,(.*)$", image, re.S)
    if not match:
        raise invalid("The image must be a URL or a data URI")
    if match.group(1) not in _IMAGE_TYPES:
        raise invalid(f"The image format {match.group(1)!r} is not supported")
    try:
        base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("The image data is not valid base64") from None


def _size(raw: Any, model: ImageModel, references: int) -> tuple[int, int]:
    size = model.default_size if raw is None else raw
    if not isinstance(size, str):
        raise fields.type_error("size", "String")
    max_pixels = model.max_pixels
    if references and model.family == "wan":  # 4K / up to 4096*4096 only for pure text-to-image
        max_pixels = min(max_pixels, EDIT_MAX_PIXELS)
    if size in _PRESETS and model.family == "wan":
        side = _PRESETS[size]
        if side * side > max_pixels:
            raise invalid(f"size {size} is not supported here")
        return side, side
    match = _SIZE.match(size)
    if not match:
        raise invalid("size must be written as width*height, e.g. 1024*1024")
    width, height = int(match.group(1)), int(match.group(2))
    if not model.min_pixels <= width * height <= max_pixels:
        low, high = round(model.min_pixels**0.5), round(max_pixels**0.5)
        raise out_of_range("size", f"[{low}*{low}, {high}*{high}]")
    return width, height


# ---- rendering ----------------------------------------------------------------------------


def image_items(request: ImageRequest, urls: list[str]) -> list[dict[str, str]]:
    if request.model.family == "wan":
        return [{"image": url, "type": "image"} for url in urls]
    return [{"image": url} for url in urls]


def usage_body(request: ImageRequest) -> dict[str, Any]:
    if request.model.family == "wan":
        prompt = tokens.count(request.prompt)
        return {
            "image_count": request.n,
            "input_tokens": prompt,
            "output_tokens": 0,
            "total_tokens": prompt,
            "size": f"{request.width}*{request.height}",
        }
    return {"image_count": request.n, "width": request.width, "height": request.height}


def generation_body(request: ImageRequest, urls: list[str], request_id: str) -> dict[str, Any]:
    """The synchronous answer: one choice whose content lists the images."""
    output: dict[str, Any] = {
        "choices": [
            {
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": image_items(request, urls)},
            }
        ]
    }
    if request.model.family == "wan":
        output["finished"] = True
    return {"output": output, "usage": usage_body(request), "request_id": request_id}


def task_created_body(task_id: str, request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "output": {"task_id": task_id, "task_status": "PENDING"}}
