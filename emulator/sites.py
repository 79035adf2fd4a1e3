"""The three sites served on one port, by path prefix (docs/sources.md).

The Token Plan is at the root, as on its own host; the Coding Plan and pay-as-you-go DashScope
live under a prefix each, so a mix-up is reproduced by changing only the base URL or the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emulator.plan.accounts import Plan

WireProtocol = Literal["openai", "anthropic", "dashscope"]

# The management API (ModelStudio OpenAPI, management_routes.py): signed with an AccessKey,
# answered before any site's key check.
MANAGEMENT_BASE = "/tokenplan"


def is_management(path: str) -> bool:
    return path == MANAGEMENT_BASE or path.startswith(MANAGEMENT_BASE + "/")


@dataclass(frozen=True)
class Site:
    plan: Plan
    protocol: WireProtocol
    base: str  # the base URL's path, as a tool is configured with it
    label: str

    @property
    def wrong_path_is_url_error(self) -> bool:
        """The Token Plan gateway answers a wrong path with a flat 400 "url error"; the
        Coding Plan and pay-as-you-go hosts with a bare 404 (docs/sources.md)."""
        return self.plan == "token_plan"


SITES: tuple[Site, ...] = (
    Site("token_plan", "openai", "/compatible-mode/v1", "Token Plan, OpenAI-compatible"),
    Site("token_plan", "anthropic", "/apps/anthropic", "Token Plan, Anthropic-compatible"),
    Site("token_plan", "dashscope", "/api/v1", "Token Plan, DashScope native (images)"),
    Site("coding_plan", "openai", "/coding-plan/v1", "Coding Plan, OpenAI-compatible"),
    Site("coding_plan", "anthropic", "/coding-plan/apps/anthropic", "Coding Plan, Anthropic"),
    Site("payg", "openai", "/dashscope/compatible-mode/v1", "pay-as-you-go, OpenAI-compatible"),
    Site("payg", "anthropic", "/dashscope/apps/anthropic", "pay-as-you-go, Anthropic"),
    Site("payg", "dashscope", "/dashscope/api/v1", "pay-as-you-go, DashScope native"),
)
_BY_LENGTH = sorted(SITES, key=lambda site: len(site.base), reverse=True)


def site_of(path: str) -> Site | None:
    """The site whose base path `path` is under (the longest match wins)."""
    for site in _BY_LENGTH:
        if path == site.base or path.startswith(site.base + "/"):
            return site
    return None


def token_plan(protocol: WireProtocol) -> Site:
    return next(s for s in SITES if s.plan == "token_plan" and s.protocol == protocol)
