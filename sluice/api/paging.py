"""orderBy, pageSize and pageToken of a list request (AIP-132, AIP-158).

A page token is the keyset cursor (the order-key values of the last row sent) plus a digest of the request
it belongs to, base64url-encoded. It is opaque to clients and only valid with the same parent, filter and
orderBy: anything else is INVALID_ARGUMENT rather than a silently different page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from sluice.api.schemas import snake
from sluice.domain.jsontypes import Json
from sluice.domain.listing import Cursor, JobField, OrderKey
from sluice.domain.records import JobRecord
from sluice.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_INT32_MAX = 2**31 - 1
_ORDERABLE = {f.value: f for f in (JobField.CREATE_TIME, JobField.UPDATE_TIME, JobField.START_TIME,
                                   JobField.END_TIME, JobField.DISPLAY_NAME)}
# Vertex: newest first unless asked otherwise.
DEFAULT_ORDER = (OrderKey(JobField.CREATE_TIME, descending=True),)


def page_size(value: int | None) -> int:
    """The page size to use: default 100, at most 1000; negative is INVALID_ARGUMENT."""
    if value is None or value == 0:
        return DEFAULT_PAGE_SIZE
    if value < 0:
        raise InvalidArgument(f"must not be negative, got {value}", "pageSize")
    if value > _INT32_MAX:  # an int32 on the wire
        raise InvalidArgument(f"must be an int32, got {value}", "pageSize")
    return min(value, MAX_PAGE_SIZE)


def _term(term: str) -> OrderKey:
    words = term.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
        raise InvalidArgument(f"expected 'field' or 'field desc', got {term.strip()!r}", "orderBy")
    field = _ORDERABLE.get(snake(words[0]))
    if field is None:
        known = ", ".join(sorted(_ORDERABLE))
        raise InvalidArgument(f"cannot order by {words[0]!r}; use {known}", "orderBy")
    return OrderKey(field, descending=len(words) == 2 and words[1].lower() == "desc")


def parse_order(text: str | None) -> tuple[OrderKey, ...]:
    """`create_time desc, display_name` as order keys, ending with the job id as the unique tiebreaker."""
    keys = tuple(_term(t) for t in text.split(",")) if text and text.strip() else DEFAULT_ORDER
    if len({k.field for k in keys}) != len(keys):
        raise InvalidArgument(f"a field appears twice in {text!r}", "orderBy")
    # The tiebreaker runs the same way as the last key, so the default order is one index scan.
    return (*keys, OrderKey(JobField.JOB_ID, keys[-1].descending))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def encode_token(payload: Json) -> str:
    """A page token: the payload as JSON, base64url without padding (opaque to clients)."""
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> Any:
    """What encode_token encoded; ValueError when the token is not one."""
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except binascii.Error as exc:
        raise ValueError("not a page token") from exc


def make_token(binding: tuple[str, ...], order: tuple[OrderKey, ...], last: JobRecord) -> str:
    """The token for the page after `last`."""
    values = [getattr(last, key.field.value) for key in order]
    keys = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return encode_token({"b": _digest(*binding), "k": keys})


def _value(raw: object, key: OrderKey) -> str | datetime | None:
    if raw is None and key.field.nullable:
        return None
    if not isinstance(raw, str):
        raise ValueError(raw)
    return datetime.fromisoformat(raw) if key.field.is_time else raw


def read_token(token: str, binding: tuple[str, ...], order: tuple[OrderKey, ...]) -> Cursor:
    """The cursor in `token`; INVALID_ARGUMENT when it is damaged or belongs to another request."""
    try:
        payload = decode_token(token)
        values = payload["k"]
        if payload["b"] != _digest(*binding):
            raise InvalidArgument("the page token belongs to a request with another filter or orderBy",
                                  "pageToken")
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError(values)
        return tuple(_value(v, k) for v, k in zip(values, order, strict=True))
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("not a page token this server handed out", "pageToken") from None
