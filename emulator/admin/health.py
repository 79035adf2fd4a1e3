"""What /_emulator/health reports: ok, or degraded with the reasons the plan cannot be served."""

from __future__ import annotations

from emulator.admin import views
from emulator.runtime import Runtime


def problems(runtime: Runtime) -> list[str]:
    """Why API calls cannot be answered (or kept) right now; empty when they can.

    Three checks, each cheap enough for a health poll: the plan renders on its clock (what
    every call reads: a clock outside the calendar breaks them all), the --state file is still
    where it was opened (deleted or moved, nothing is being kept), and the newest API call did
    not fail unexpectedly (a state file that cannot be written, or any other fault)."""
    found: list[str] = []
    try:
        views.overview(runtime)
    except Exception as exc:  # whatever breaks the plan's view breaks the calls that read it
        found.append(f"the plan cannot be read on its clock: {describe(exc)}")
    store = runtime.store
    if store is not None and not store.path.exists():
        found.append(f"the state file {store.path} no longer exists: nothing is being kept")
    if runtime.last_failure is not None:
        found.append(f"the last API call failed: {runtime.last_failure}")
    return found


def describe(exc: BaseException) -> str:
    """An exception as one bounded line, for the health report."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
