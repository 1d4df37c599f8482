"""Opaque keyset cursors for newest-first listings: (timestamp, id) of the last item."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime

from llmtrail.errors import ValidationError
from llmtrail.model.rules import Errors, timestamp

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def encode_cursor(ts: datetime, trail_id: str) -> str:
    raw = json.dumps([ts.isoformat(), trail_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; a cursor not made by ``encode_cursor`` is a 422."""
    try:
        if len(cursor) > 200:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, trail_id = json.loads(raw)
        errs = Errors()
        ts = timestamp(errs, "cursor", ts_text)
        if ts is None or not isinstance(trail_id, str) or not _ID_RE.fullmatch(trail_id):
            raise ValueError
        return ts, trail_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("is not a valid cursor", field="cursor") from None
