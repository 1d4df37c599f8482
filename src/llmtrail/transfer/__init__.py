"""Moving audit trails between stores: ``copy`` (resumable backfill), ``verify`` (counts and
content checksums), and JSON Lines ``import``/``export``. The CLI commands in
``llmtrail.cli.transfer`` are thin shells over these functions."""

from llmtrail.transfer.copy import CopyReport, copy_store
from llmtrail.transfer.jsonl import ImportReport, export_jsonl, import_jsonl
from llmtrail.transfer.verify import Difference, VerifyReport, verify_stores

__all__ = [
    "CopyReport",
    "Difference",
    "ImportReport",
    "VerifyReport",
    "copy_store",
    "export_jsonl",
    "import_jsonl",
    "verify_stores",
]
