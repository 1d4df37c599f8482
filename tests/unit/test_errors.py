"""Every user-facing error type lives in ``llmtrail.errors`` and has its HTTP status."""

from __future__ import annotations

import inspect

import llmtrail.errors as errors
from llmtrail.server.problems import ERROR_TABLE, status_of


def _error_types() -> list[type[errors.AuditTrailError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AuditTrailError) and cls is not errors.AuditTrailError
    ]


def test_the_http_table_covers_every_error_type() -> None:
    listed = {cls for cls, *_ in ERROR_TABLE}
    for cls in _error_types():
        assert cls in listed, f"{cls.__name__} has no entry in server/problems.ERROR_TABLE"


def test_each_error_maps_to_its_own_entry() -> None:
    for cls, status, slug, _title in ERROR_TABLE:
        instance = cls(1) if cls is errors.BodyTooLargeError else cls("x")  # type: ignore[call-arg]
        assert status_of(instance)[:2] == (status, slug), cls


def test_the_server_defines_no_error_types_of_its_own() -> None:
    import llmtrail.server.problems as problems

    local = [
        cls
        for _, cls in inspect.getmembers(problems, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == problems.__name__
    ]
    assert local == []
