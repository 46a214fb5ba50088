"""Stage 6: write outputs/triples.csv exactly as SCHEMA.md says, atomically.

Rows are sorted (article, evidence offset, relation, subject, object) so that the same
input always gives byte-identical output.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterable

TRIPLE_COLUMNS = [
    "article_id", "article_date", "language", "subject", "subject_type", "relation", "object",
    "object_type", "value", "status", "source", "confidence", "evidence", "start", "end", "rule",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMERIC_COLUMNS = {"confidence", "start", "end", "value", "n_entities", "n_triples", "language_prob",
                   "sentence", "n_articles"}
# A plain decimal number (what a numeric column holds); float() alone would also accept
# "\t1", "1_000", "inf" and "nan", which must not slip past the formula guard.
NUMBER = re.compile(r"\A[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def excel_safe(column: str, value) -> str:
    """Neutralise cells a spreadsheet would run as a formula; numbers stay numbers."""
    text = "" if value is None else str(value)
    if column in NUMERIC_COLUMNS and _is_number(text):
        return text
    return "'" + text if text.startswith(FORMULA_START) else text


def _is_number(text: str) -> bool:
    return bool(NUMBER.match(text))


def excel_restore(text: str) -> str:
    """The cell as it was before excel_safe (for reading our own CSVs back)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV written by write_csv (BOM or not), neutralised cells restored."""
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return [{k: excel_restore(v or "") for k, v in row.items()} for row in csv.DictReader(handle)]


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


# One CSV per article under OUT/articles: the file name comes from the article id, which
# is a path relative to the input folder, so it keeps its subfolders but can never leave
# OUT/articles (no "..", no absolute paths, no characters a filesystem would misread).
UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"\\|?*]')
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                    *(f"lpt{i}" for i in range(1, 10))}
MAX_PART_BYTES = 120


class UnsafeArticleId(ValueError):
    """An article id that cannot be turned into a file name inside OUT/articles."""


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def article_file_name(article_id: str) -> str:
    """A relative `/`-separated path ending in `.csv` for the article's own CSV.

    The id's folders are kept; `.` and empty parts are dropped; a `..` part is rejected;
    characters Windows or a shell would misread become `_`. When the name had to change,
    a short hash of the id is appended so two ids never share a file.
    """
    parts = article_id.replace("\\", "/").split("/")
    if ".." in parts:
        raise UnsafeArticleId(f"article id {article_id!r} climbs out of its folder ('..')")
    clean = []
    for part in parts:
        if part in ("", "."):
            continue
        part = UNSAFE_CHARS.sub("_", part).rstrip(" .") or "_"
        if part.split(".")[0].lower() in WINDOWS_RESERVED:
            part = "_" + part
        if len(part.encode("utf-8")) > MAX_PART_BYTES:
            part = part.encode("utf-8")[:MAX_PART_BYTES].decode("utf-8", "ignore") + "~" + _short_hash(part)
        clean.append(part)
    if not clean:
        raise UnsafeArticleId(f"article id {article_id!r} gives no file name")
    name = "/".join(clean)
    if name != article_id:
        name += "~" + _short_hash(article_id)
    return name + ".csv"


def article_file_names(article_ids: Iterable[str]) -> dict[str, str]:
    """article_file_name for each id; ids whose names differ only in case get a hash too
    (Windows and macOS would otherwise write them to one file). Unsafe ids are left out."""
    names: dict[str, str] = {}
    for article_id in sorted(set(article_ids)):
        try:
            names[article_id] = article_file_name(article_id)
        except UnsafeArticleId:
            continue
    folded: dict[str, list[str]] = {}
    for article_id, name in names.items():
        folded.setdefault(name.casefold(), []).append(article_id)
    for group in folded.values():
        if len(group) > 1:
            for article_id in group:
                names[article_id] = names[article_id][: -len(".csv")] + "~" + _short_hash(article_id) + ".csv"
    return names


def write_per_article(root: Path, columns: list[str], rows: Iterable[dict], article_ids: Iterable[str],
                      bom: bool = True) -> tuple[dict[str, Path], list[str]]:
    """One CSV per article id under root (header only when it has no rows).

    Returns (article id -> path written, ids rejected as unsafe). CSVs left under root by
    an earlier run for articles no longer in it are removed.
    """
    by_article: dict[str, list[dict]] = {}
    for row in rows:
        by_article.setdefault(row["article_id"], []).append(row)
    wanted = sorted(set(article_ids) | set(by_article))
    names = article_file_names(wanted)
    rejected = [a for a in wanted if a not in names]
    resolved_root = root.resolve()
    written: dict[str, Path] = {}
    for article_id, name in names.items():
        target = root.joinpath(*name.split("/"))
        if not target.resolve().is_relative_to(resolved_root):  # e.g. a symlinked subfolder
            rejected.append(article_id)
            continue
        write_csv(target, columns, by_article.get(article_id, []), bom=bom)
        written[article_id] = target
    keep = {p.resolve() for p in written.values()}
    for folder, _, files in os.walk(root):
        for file_name in files:
            path = Path(folder) / file_name
            if file_name.endswith(".csv") and not path.is_symlink() and path.resolve() not in keep:
                path.unlink()
    return written, sorted(rejected)
