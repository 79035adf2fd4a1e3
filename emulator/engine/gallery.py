"""Generated pictures and async image tasks, on the emulator's clock.

A picture is kept as its recipe (prompt, seed, size), not its bytes: the PNG is painted again,
identically, when its URL is fetched. URLs stop working 24 hours after generation; a task moves
PENDING -> RUNNING -> SUCCEEDED as the clock passes its schedule, and is UNKNOWN after 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

LIFETIME = 24 * 3600.0  # image URLs and task ids (product.md §5)
QUEUED = 1.0  # seconds a task stays PENDING (an assumption, docs/fidelity.md)
RUNNING = 4.0  # seconds it then stays RUNNING

TaskStatus = Literal["PENDING", "RUNNING", "SUCCEEDED", "UNKNOWN"]


@dataclass(frozen=True)
class Picture:
    id: str
    prompt: str
    seed: int
    width: int
    height: int
    expires: float


@dataclass
class Task:
    id: str
    submitted: float
    result: dict[str, Any]  # the finished output's choices and the usage, for the query
    pictures: list[Picture] = field(default_factory=list)

    def status(self, now: float) -> TaskStatus:
        if now >= self.submitted + LIFETIME:
            return "UNKNOWN"
        if now < self.submitted + QUEUED:
            return "PENDING"
        if now < self.submitted + QUEUED + RUNNING:
            return "RUNNING"
        return "SUCCEEDED"


@dataclass
class Gallery:
    pictures: dict[str, Picture] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)

    def keep(self, picture: Picture) -> Picture:
        self.pictures[picture.id] = picture
        return picture

    def picture(self, picture_id: str, now: float) -> Picture | Literal["expired"] | None:
        """The picture, "expired" when its URL no longer works, None when unknown."""
        picture = self.pictures.get(picture_id)
        if picture is None:
            return None
        return "expired" if now >= picture.expires else picture

    def forget_before(self, now: float) -> None:
        """Drop what can no longer be fetched or queried (keeps memory bounded in time)."""
        self.pictures = {k: p for k, p in self.pictures.items() if p.expires > now}
        self.tasks = {k: t for k, t in self.tasks.items() if t.submitted + LIFETIME > now}
