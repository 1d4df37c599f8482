"""Query parameters shared by listing and export: the filters of SPEC §3."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query

from llmtrail.errors import ValidationError
from llmtrail.model import TrailFilter, rules
from llmtrail.server.auth import ProjectAccess

# A "+" offset arrives as a space when the client forgot to percent-encode it.
_SPACED_OFFSET = re.compile(r"^(.{19,}) (\d\d:?\d\d)$")


def instant(errs: rules.Errors, name: str, value: str | None) -> object:
    """An RFC 3339 query parameter (a ``+`` sent unencoded arrives as a space), or None."""
    if value is None:
        return None
    fixed = _SPACED_OFFSET.sub(r"\1+\2", value)
    return rules.timestamp(errs, name, fixed)


def trail_filter(
    project_id: ProjectAccess,
    since: Annotated[
        str | None, Query(description="RFC 3339 with an offset; trails at or after")
    ] = None,
    until: Annotated[
        str | None, Query(description="RFC 3339 with an offset; trails before")
    ] = None,
    model: Annotated[str | None, Query(description="exact model name")] = None,
    status: Annotated[str | None, Query(description="pending, completed or failed")] = None,
    provider: Annotated[str | None, Query(description="exact provider name")] = None,
    message_id_prefix: Annotated[
        str | None,
        Query(alias="messageIdPrefix", max_length=255, description="messageIds starting so"),
    ] = None,
    metadata: Annotated[
        list[str] | None,
        Query(description="key=value, repeatable: metadata values (numbers as JSON writes them)"),
    ] = None,
) -> TrailFilter:
    """The validated filter of a listing or an export (422 naming the bad parameter)."""
    errs = rules.Errors()
    lo = instant(errs, "since", since)
    hi = instant(errs, "until", until)
    if model is not None:
        rules.text(errs, "model", model, max_len=rules.MAX_MODEL)
    if status is not None:
        rules.choice(errs, "status", status, ("pending", "completed", "failed"))
    if provider is not None:
        rules.provider(errs, "provider", provider)
    if message_id_prefix is not None:
        rules.text(errs, "messageIdPrefix", message_id_prefix, max_len=rules.MAX_MESSAGE_ID)
    wanted = rules.metadata_filter(errs, "metadata", metadata or [])
    if errs:
        raise ValidationError(errs.items)
    return TrailFilter(
        project_id,
        since=lo,  # type: ignore[arg-type]
        until=hi,  # type: ignore[arg-type]
        model=model,
        status=status,
        provider=provider,
        message_id_prefix=message_id_prefix,
        metadata=wanted,
    )


Filter = Annotated[TrailFilter, Depends(trail_filter)]
