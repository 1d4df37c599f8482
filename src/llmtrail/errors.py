"""Every error a user of llmtrail can cause or meet, as one small hierarchy.

The HTTP layer maps these types to status codes in one table (``server/problems.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


class AuditTrailError(Exception):
    """Base class of every error llmtrail raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One offending field: its JSON path (``tokens.total``) and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(AuditTrailError, ValueError):
    """Input broke a rule of the data model; nothing was written."""

    def __init__(self, errors: list[FieldError] | FieldError | str, field: str | None = None):
        if isinstance(errors, str):
            errors = [FieldError(field or "", errors)]
        elif isinstance(errors, FieldError):
            errors = [errors]
        self.errors: list[FieldError] = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @property
    def fields(self) -> list[str]:
        """The names of the offending fields, in the order found."""
        return [e.field for e in self.errors]


class ConflictError(AuditTrailError):
    """A record with the same identity exists with different content."""


class NotFoundError(AuditTrailError, LookupError):
    """The record to read, update or delete does not exist."""


class UnavailableError(AuditTrailError):
    """The database cannot be reached right now; the operation may be retried."""

    retry_after: int = 5


class SchemaOutdatedError(AuditTrailError):
    """The database schema is behind this version and auto-migration is off."""


class AuthError(AuditTrailError):
    """A key is missing, unknown or revoked."""


class ForbiddenError(AuditTrailError):
    """A valid key was used on something it does not reach."""


class MalformedJSONError(AuditTrailError):
    """A request body is not valid JSON (HTTP only: 400)."""


class BodyTooLargeError(AuditTrailError):
    """A request body exceeds ``AUDIT_TRAIL_MAX_BODY_BYTES`` (HTTP only: 413)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body exceeds {limit} bytes")


class MalformedBodyError(AuditTrailError):
    """A request body is not what the route reads (an OTLP export, say; HTTP only: 400)."""


class UnsupportedMediaTypeError(AuditTrailError):
    """A request's Content-Type or Content-Encoding is not one the route reads (415)."""
