"""Scenario rules and faults on management calls: the same rule book as the model endpoints,
seen through a probe whose protocol is `openapi` and whose `model` is the action's name (so
`match: {model: BatchAssignSeats}` targets one action, `match: {protocol: openapi}` them all,
and a rule without `match` every request, as on the model endpoints).

A fault's latency and jitter delay the answer; `drop` and `stall` give none; `status` answers
that status in the gateway's error envelope; a rule's `error` answers its documented status,
code and message in that envelope too (docs/fidelity.md).
"""

from __future__ import annotations

from aiohttp import web

from emulator.errors import ApiError
from emulator.protocols.alibaba_openapi import OpenApiError
from emulator.runtime import RUNTIME
from emulator.scenarios.faults import Fault
from emulator.scenarios.rules import Probe, rule_error
from emulator.streaming import answering_rule

# The POP gateway's codes for a bare status (docs/fidelity.md): what a fault's `status` answers.
STATUS_ERRORS = {
    429: ("Throttling.User", "Request was denied due to user flow control."),
    500: (
        "InternalError",
        "The request processing has failed due to some unknown error, exception or failure.",
    ),
    502: ("BadGateway", "The request has failed due to a bad gateway."),
    503: ("ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    504: ("GatewayTimeout", "The request has failed due to a gateway timeout."),
}


class NoAnswer(Exception):
    """The rule's fault gives no answer (`drop`, or `stall` until the client gives up)."""

    def __init__(self, stall: bool) -> None:
        super().__init__("stall" if stall else "drop")
        self.stall = stall


async def consult(request: web.Request, action: str) -> None:
    """Apply the first rule answering this call: wait, then raise OpenApiError or NoAnswer;
    return when the action should answer."""
    if not request.app[RUNTIME].rules.rules:
        return
    probe = Probe(plan="token_plan", protocol="openapi", path=request.path, model=action)
    answering = await answering_rule(request, probe)
    if answering is None:
        return
    rule = answering.rule
    fault = rule.fault or Fault()
    if fault.drop or fault.stall:
        raise NoAnswer(fault.stall)
    if fault.status is not None:
        code, message = STATUS_ERRORS.get(fault.status, ("InternalError", "Injected fault."))
        raise OpenApiError(fault.status, code, message)
    if rule.error is not None:
        error: ApiError = rule_error(rule, probe)
        raise OpenApiError(error.status, error.kind.code, error.message)
