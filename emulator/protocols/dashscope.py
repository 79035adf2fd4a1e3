"""The flat DashScope body: gateway errors on every path, and errors of the native /api/v1 API."""

from __future__ import annotations

from typing import Any

from emulator.errors import ApiError


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    return {"code": error.kind.code, "message": error.message, "request_id": request_id}
