"""Alibaba Cloud OpenAPI (ROA style), as the management API speaks it: the AccessKey pair, the
ACS3-HMAC-SHA256 signature check, and the JSON envelopes of answers and errors.

The signature is recomputed exactly as the SDK core computes it
(alibabacloud_tea_openapi.utils.Utils.get_authorization): a canonical request of method, path,
sorted query (values percent-encoded, `~` kept), the signed headers (lower-cased names, values
stripped, repeated values sorted and joined by `,`), the signed header names, and the SHA-256
of the body; then HMAC-SHA256 over `ACS3-HMAC-SHA256\\n<hex sha256 of that request>`. The
gateway's errors (codes, statuses, messages) are in docs/fidelity.md, with their sources.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from multidict import CIMultiDictProxy, MultiMapping

from emulator.seeds import Seeds

ALGORITHM = "ACS3-HMAC-SHA256"
VERSION = "2026-02-10"
PRODUCT = "ModelStudio"  # the product name the gateway's Recommend link names
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class AccessKey:
    id: str
    secret: str


def access_key(seeds: Seeds) -> AccessKey:
    """The team owner's AccessKey pair, from the seed: an id of `LTAI` and 20 letters and
    digits (24 characters, as current Alibaba Cloud AccessKey ids are) and a 30-character
    secret, so the same seed always gives the same pair."""
    rng = seeds.rng("alibaba-cloud-access-key")
    key_id = "LTAI" + "".join(rng.choice(_ALNUM) for _ in range(20))
    secret = "".join(rng.choice(_ALNUM) for _ in range(30))
    return AccessKey(key_id, secret)


class OpenApiError(Exception):
    """An error in the gateway's envelope: HTTP status, `Code` and `Message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def missing_parameter(name: str) -> OpenApiError:
    return OpenApiError(
        400,
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request is not '
        "supplied.",
    )


def invalid_parameter(name: str, value: str) -> OpenApiError:
    return OpenApiError(
        400, "InvalidParameter", f'The parameter "{name}" has an invalid value: {value!r}.'
    )


# ---- signature ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """What an `Authorization: ACS3-HMAC-SHA256 ...` header says."""

    key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None) -> Signed:
    if value is None or not value.strip():
        # No Authorization at all: what the gateway answers a request without an AccessKey.
        raise OpenApiError(400, "MissingAccessKeyId", "AccessKeyId is mandatory for this action.")
    algorithm, _, rest = value.strip().partition(" ")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, text = item.strip().partition("=")
        if eq:
            parts[name] = text
    if (
        algorithm != ALGORITHM
        or not parts.get("Credential")
        or "SignedHeaders" not in parts
        or not parts.get("Signature")
    ):
        raise OpenApiError(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    names = tuple(n for n in parts["SignedHeaders"].split(";") if n)
    return Signed(parts["Credential"], names, parts["Signature"])


def canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{key}={quote(query[key], safe='~')}" for key in sorted(query))


def canonical_headers(headers: CIMultiDictProxy[str], names: tuple[str, ...]) -> str:
    lines = []
    for name in names:
        values = sorted(value.strip() for value in headers.getall(name, []))
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def string_to_sign(
    method: str,
    path: str,
    query: MultiMapping[str],
    headers: CIMultiDictProxy[str],
    signed: Signed,
    body: bytes,
) -> str:
    canonical = "\n".join(
        [
            method,
            path or "/",
            canonical_query({key: query[key] for key in query}),
            canonical_headers(headers, signed.signed_headers),
            ";".join(signed.signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def verify(
    key: AccessKey,
    method: str,
    path: str,
    query: MultiMapping[str],
    headers: CIMultiDictProxy[str],
    body: bytes,
) -> None:
    """Refuse a request not signed with `key`, as the gateway does."""
    signed = parse_authorization(headers.get("Authorization"))
    if signed.key_id != key.id:
        raise OpenApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    to_sign = string_to_sign(method, path, query, headers, signed, body)
    expected = hmac.new(key.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signed.signature.lower()):
        # The gateway shows its string to sign, so a client can compare it with its own.
        raise OpenApiError(
            400,
            "SignatureDoesNotMatch",
            f"Specified signature does not match our calculation. server StringToSign is "
            f"[{to_sign}]",
        )


# ---- envelopes ----------------------------------------------------------------------------


def request_id(raw: str) -> str:
    """The gateway's RequestId shape: an upper-case UUID."""
    return raw.upper()


def error_body(error: OpenApiError, rid: str, host: str) -> dict[str, Any]:
    """The gateway's error envelope; the SDK reads `Code`, `Message` and `RequestId` from it
    (ClientException for 4xx, ServerException for 5xx)."""
    return {
        "RequestId": rid,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product={PRODUCT}"
        f"&requestId={rid}",
    }


def ok_body(rid: str, data: Any = None, **extra: Any) -> dict[str, Any]:
    """A successful answer: `Success`, `Code`, `Message`, `RequestId`, and `Data` if any (the
    same envelope as the admin API's GetSubscriptionStats view, admin/views.py)."""
    body: dict[str, Any] = {"RequestId": rid, "Success": True, "Code": "Success", "Message": ""}
    if data is not None:
        body["Data"] = data
    body.update(extra)
    return body
