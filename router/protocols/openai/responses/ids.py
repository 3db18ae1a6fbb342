"""Ids of Responses objects, and the envelope that carries provider reasoning state in them.

Ids are a prefix (``resp_``, ``msg_``, ``fc_``, ``fco_``, ``rs_``) and 48 random hex digits, as
OpenAI's are: opaque to clients, unguessable (a stored response is found by its id).

A reasoning item's ``encrypted_content`` (and, in the gateway's stored history only, a function
call's :data:`CALL_SIGNATURE` field) carries what an upstream needs back on the next turn and a
Responses client cannot otherwise hold: an Anthropic thinking signature or redacted thinking, a
Gemini thought signature. :func:`seal` writes it as ``torouter.v1.<base64url JSON>`` with its
signer, so that only the provider that made it gets it back (TRANSLATION §9.7, "reasoning
continuity"); :func:`unseal` reads it back, and returns None for anything it did not write (an
OpenAI ``encrypted_content``, which no other provider can use).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import Final

import orjson

ENVELOPE_PREFIX: Final = "torouter.v1."
# A function_call item's signature in the gateway's stored history (never shown to clients).
CALL_SIGNATURE: Final = "x_torouter_signature"


def new_id(prefix: str) -> str:
    """``<prefix>_`` and 48 random hex digits."""
    return f"{prefix}_{secrets.token_hex(24)}"


@dataclass(slots=True, frozen=True)
class Sealed:
    """Provider state read back from an envelope."""

    signature: str | None = None
    signer: str | None = None
    redacted_data: str | None = None


def seal(signature: str | None, signer: str | None, redacted_data: str | None = None) -> str | None:
    """The envelope of a signature (with who made it) and/or redacted reasoning; None when empty."""
    if not signature and not redacted_data:
        return None
    fields: dict[str, str] = {}
    if signature:
        fields["signature"] = signature
        if signer:
            fields["signer"] = signer
    if redacted_data:
        fields["redacted"] = redacted_data
    return ENVELOPE_PREFIX + base64.urlsafe_b64encode(orjson.dumps(fields)).decode().rstrip("=")


def unseal(value: object) -> Sealed | None:
    """What an envelope holds; None when ``value`` is not one the gateway wrote."""
    if not isinstance(value, str) or not value.startswith(ENVELOPE_PREFIX):
        return None
    payload = value[len(ENVELOPE_PREFIX) :]
    try:
        fields = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(fields, dict):
        return None
    signature, signer, redacted = fields.get("signature"), fields.get("signer"), fields.get("redacted")
    return Sealed(
        signature if isinstance(signature, str) else None,
        signer if isinstance(signer, str) else None,
        redacted if isinstance(redacted, str) else None,
    )
