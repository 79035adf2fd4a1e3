"""JSON text the way the standard library writes it, made cheaper per call: the one encoder
answers, digests and the journal share, byte for byte json.dumps's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# A str as the encoders below write it (the function json's encoder calls for every string
# when ensure_ascii is off): for text written straight into a fixed JSON frame.
string: Callable[[str], str] = json.encoder.encode_basestring


def encoder(**options: Any) -> Callable[[Any], str]:
    """`json.JSONEncoder(**options).encode`, the same text. encode() makes a new C encoder
    (json's accelerator) every call; here it is made once, without the check for a value that
    contains itself (none the emulator encodes does: each is built afresh from parsed JSON and
    dataclasses). Without the accelerator, encode() itself."""
    standard = json.JSONEncoder(**options)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or standard.indent is not None:
        return standard.encode
    one_shot = make(
        None,  # no circular-reference markers
        standard.default,
        json.encoder.encode_basestring_ascii if standard.ensure_ascii else string,
        None,
        standard.key_separator,
        standard.item_separator,
        standard.sort_keys,
        standard.skipkeys,
        standard.allow_nan,
    )

    def encode(value: Any) -> str:
        return "".join(one_shot(value, 0))

    return encode
