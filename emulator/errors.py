"""ApiError: raised anywhere, rendered by the protocol that received the request."""

from __future__ import annotations

from typing import Any

from emulator.catalog import ErrorKind, error_kinds


class ApiError(Exception):
    """A documented error of kind `kind` (a name in `data/errors.yaml`), with its parameters."""

    def __init__(self, kind: str, **params: Any) -> None:
        kinds = error_kinds()
        if kind not in kinds:
            raise KeyError(f"unknown error kind {kind!r}; known: {', '.join(sorted(kinds))}")
        self.kind: ErrorKind = kinds[kind]
        self.params = params
        self.message = self.kind.message.format(**params)
        super().__init__(f"{kind}: {self.message}")

    @property
    def status(self) -> int:
        return self.kind.status


def invalid(detail: str) -> ApiError:
    """The generic `<400> InternalError.Algo.InvalidParameter: ...` error."""
    return ApiError("invalid_parameter", detail=detail)


def out_of_range(name: str, bounds: str) -> ApiError:
    """`Range of NAME should be BOUNDS`, BOUNDS written as the service writes it, e.g. `[1, 4]`."""
    return ApiError("parameter_range", name=name, bounds=bounds)
