"""Stage 6: write outputs/triples.csv exactly as SCHEMA.md says, atomically.

Rows are sorted (article, evidence offset, relation, subject, object) so that the same
input always gives byte-identical output.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterable

TRIPLE_COLUMNS = [
    "article_id", "article_date", "language", "subject", "subject_type", "relation", "object",
    "object_type", "value", "status", "source", "confidence", "evidence", "start", "end", "rule",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMERIC_COLUMNS = {"confidence", "start", "end", "value", "n_entities", "n_triples", "language_prob"}


def excel_safe(column: str, value) -> str:
    """Neutralise cells a spreadsheet would run as a formula; numbers stay numbers."""
    text = "" if value is None else str(value)
    if column in NUMERIC_COLUMNS and _is_number(text):
        return text
    return "'" + text if text.startswith(FORMULA_START) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_csv(path: Path, columns: list[str], rows: Iterable[dict], bom: bool = True) -> int:
    """Write rows to path via a temporary file and an atomic rename."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({c: excel_safe(c, row.get(c, "")) for c in columns})
        count += 1
    atomic_write(path, ("\ufeff" if bom else "") + buffer.getvalue())
    return count


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def sort_rows(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["article_id"], int(r["start"]), r["relation"],
                                       r["subject"], r["object"], r["value"]))
