"""Generated pictures and async image tasks, on the emulator's clock.

A picture is kept as its recipe (prompt, seed, size), not its bytes: the PNG is painted again,
identically, when its URL is fetched. URLs stop working 24 hours after generation; a task moves
PENDING -> RUNNING -> SUCCEEDED as the clock passes its schedule, and is UNKNOWN after 24 hours.
Both are also bounded in number (MAX_PICTURES, MAX_TASKS), the oldest forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

LIFETIME = 24 * 3600.0  # image URLs and task ids (docs/sources.md)
QUEUED = 1.0  # seconds a task stays PENDING (an assumption, docs/fidelity.md)
RUNNING = 4.0  # seconds it then stays RUNNING
# At most this many pictures and tasks are remembered (the oldest are forgotten first), so a
# long run under a frozen clock, where nothing ever expires, still holds bounded memory. A URL
# older than the last MAX_PICTURES pictures answers 404 NoSuchKey (docs/fidelity.md).
MAX_PICTURES = 10_000
MAX_TASKS = 10_000

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
    """Pictures and tasks, each map in the order they were made (so oldest first), bounded in
    time (LIFETIME) and in count (`max_pictures`, `max_tasks`: the oldest go first, also under
    a frozen clock). Keeping, looking up and forgetting are O(1) amortised: ordered dicts, whose
    oldest entry is found and dropped in constant time (a plain dict scans past the holes its
    deletions leave at the front)."""

    max_pictures: int = MAX_PICTURES
    max_tasks: int = MAX_TASKS
    pictures: OrderedDict[str, Picture] = field(default_factory=OrderedDict)
    tasks: OrderedDict[str, Task] = field(default_factory=OrderedDict)

    def keep(self, picture: Picture) -> Picture:
        _keep(self.pictures, picture.id, picture, self.max_pictures)
        return picture

    def keep_task(self, task: Task) -> Task:
        _keep(self.tasks, task.id, task, self.max_tasks)
        return task

    def task(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    def picture(self, picture_id: str, now: float) -> Picture | Literal["expired"] | None:
        """The picture, "expired" when its URL no longer works, None when unknown."""
        picture = self.pictures.get(picture_id)
        if picture is None:
            return None
        return "expired" if now >= picture.expires else picture

    def forget_before(self, now: float) -> None:
        """Drop what can no longer be fetched or queried, oldest first: the work is what is
        dropped, not what is kept. A clock moved back can leave a newer entry expiring before
        an older one; it is dropped when it reaches the front (lookups check expiry anyway)."""
        pictures, tasks = self.pictures, self.tasks
        while pictures and _first(pictures).expires <= now:
            pictures.popitem(last=False)
        while tasks and _first(tasks).submitted + LIFETIME <= now:
            tasks.popitem(last=False)


Entry = TypeVar("Entry")


def _keep(entries: OrderedDict[str, Entry], key: str, entry: Entry, limit: int) -> None:
    """Add `entry` as the newest (made again under a frozen clock, it moves to the end), and
    drop the oldest past `limit`."""
    entries[key] = entry
    entries.move_to_end(key)
    while len(entries) > limit:
        entries.popitem(last=False)


def _first(entries: OrderedDict[str, Entry]) -> Entry:
    return next(iter(entries.values()))
