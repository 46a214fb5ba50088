"""Stage 6: write outputs/triples.csv exactly as SCHEMA.md says, atomically.

Rows are sorted (article, evidence offset, relation, subject, object) so that the same
input always gives byte-identical output.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
from itertools import repeat
from pathlib import Path
from typing import Iterable, Iterator

TRIPLE_COLUMNS = [
    "article_id", "article_date", "language", "subject", "subject_type", "relation", "object",
    "object_type", "value", "status", "source", "confidence", "evidence", "start", "end", "rule",
]
ENTITY_COLUMNS = ["article_id", "text", "canonical", "type", "entity_id", "start", "end", "sentence", "component"]
CSV_LINE_END = "\r\n"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMERIC_COLUMNS = {"confidence", "start", "end", "value", "n_entities", "n_triples", "language_prob",
                   "sentence", "n_articles"}
# A plain decimal number (what a numeric column holds); float() alone would also accept
# "\t1", "1_000", "inf" and "nan", which must not slip past the formula guard.
NUMBER = re.compile(r"\A[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def excel_safe(column: str, value) -> str:
    """Neutralise cells a spreadsheet would run as a formula; numbers stay numbers."""
    text = value if type(value) is str else "" if value is None else str(value)
    if not text.startswith(FORMULA_START):  # the common case, decided without the regex
        return text
    if column in NUMERIC_COLUMNS and _is_number(text):
        return text
    return "'" + text


def _is_number(text: str) -> bool:
    return bool(NUMBER.match(text))


def excel_restore(text: str) -> str:
    """The cell as it was before excel_safe (for reading our own CSVs back)."""
    if not text.startswith("'"):
        return text
    return text[1:] if text[1:].startswith(FORMULA_START) else text


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV written by write_csv (BOM or not), neutralised cells restored."""
    return list(iter_csv(path))


def iter_csv(path: Path) -> Iterator[dict]:
    """The rows of a CSV written by write_csv one at a time, neutralised cells restored."""
    records = iter_records(path)
    header = next(records, None)
    for cells in records:
        yield dict(zip(header, restored(cells)))


def iter_records(path: Path) -> Iterator[list[str]]:
    """The header, then the cells of each row of a CSV written by write_csv, as written
    (see restored). Like csv.DictReader, blank lines are skipped and missing trailing
    cells read as ""; a row with more cells than the header is an error."""
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        yield header
        width = len(header)
        for number, cells in enumerate(reader, 2):
            if len(cells) != width:
                if not cells:
                    continue
                cells = _padded(path, number, cells, width)
            yield cells


def _padded(path: Path, number: int, cells: list[str], width: int) -> list[str]:
    if len(cells) > width:
        raise ValueError(f"{path}: row {number} has {len(cells)} cells, its header {width}")
    return cells + [""] * (width - len(cells))


def restored(cells: list[str]) -> list[str]:
    """The cells with excel_restore applied (a row without a leading quote is kept as it is)."""
    if any(map(str.startswith, cells, repeat("'"))):
        return list(map(excel_restore, cells))
    return cells


def tally_csv(path: Path, column: str, wanted: set[str]) -> tuple[dict[str, int], list[dict]]:
    """One pass over a CSV written by write_csv: the number of rows per value of `column`,
    and the rows (as iter_csv gives them) whose value is in wanted."""
    records = iter_records(path)
    header = next(records, None) or []
    if column not in header:
        if next(records, None) is None:  # nothing to count
            return {}, []
        raise ValueError(f"{path}: no {column} column")
    position = header.index(column)
    counts: dict[str, int] = {}
    kept = []
    for cells in records:
        value = cells[position]
        if value.startswith("'"):
            value = excel_restore(value)
        counts[value] = counts.get(value, 0) + 1
        if value in wanted:
            kept.append(dict(zip(header, restored(cells))))
    return counts, kept


def write_csv(path: Path, columns: list[str], rows: Iterable[dict], bom: bool = True) -> int:
    """Write rows to path, streaming them into a temporary file renamed over path at the end.

    A row's cells are its values for `columns` (missing ones empty, others ignored),
    each through excel_safe.
    """
    count = 0
    with atomic_file(path) as handle:
        if bom:
            handle.write("\ufeff")
        writer = csv.writer(handle, lineterminator=CSV_LINE_END)
        writer.writerow(columns)
        for cells in safe_cells(columns, rows):
            writer.writerow(cells)
            count += 1
    return count


def write_csv_bodies(path: Path, columns: list[str], bodies: Iterable[bytes], bom: bool = True) -> None:
    """A CSV of the given header and bodies (each as csv_lines made it), written as write_csv."""
    with atomic_file(path, binary=True) as handle:
        handle.write((("\ufeff" if bom else "") + csv_text([columns])).encode("utf-8"))
        for body in bodies:
            handle.write(body)


def csv_lines(columns: list[str], rows: Iterable[dict]) -> bytes:
    """The rows as write_csv writes them after its header (UTF-8): the body of a CSV,
    which a later write can copy without reading each row again."""
    return csv_text(safe_cells(columns, rows)).encode("utf-8")


def csv_text(cell_rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator=CSV_LINE_END).writerows(cell_rows)
    return buffer.getvalue()


def json_lines(rows: Iterable[dict]) -> str:
    """One JSON object per line, keys sorted: what our .jsonl files (triples, articles) hold."""
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)


def safe_cells(columns: list[str], rows: Iterable[dict]) -> Iterator[list[str]]:
    """Each row's cells in the order of columns, as excel_safe makes them (a text that
    cannot start a formula is taken as it is, without the call)."""
    blanks = [""] * len(columns)
    for row in rows:
        yield [value if type(value) is str and not value.startswith(FORMULA_START) else excel_safe(column, value)
               for column, value in zip(columns, map(row.get, columns, blanks))]


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False):
    """A file (text, or bytes with binary) opened for writing next to path; it replaces
    path only when the block ends without error (and is removed otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with (tmp.open("wb") if binary else tmp.open("w", encoding="utf-8", newline="")) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text)


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


# ---------------------------------------------------------------------------------------
# Publishing a run. Every output of a run is written into a staging folder inside OUT
# (`OUT/.run-<pid>/`) and only when all of them are complete does the staging folder
# become `OUT/.pending/` (one atomic rename: the commit point). Its files are then moved
# over the old ones, each with an atomic rename, and `.pending/` is removed. A run killed
# before the commit leaves the previous outputs untouched (its staging folder is removed
# by the next run); one killed during the moves leaves `.pending/`, which the next command
# on OUT finishes first. So triples.csv is never truncated, and never from another run
# than articles.csv and entities.csv once a command has started on OUT.

STAGING_PREFIX = ".run-"
PENDING = ".pending"
PUBLISH_PLAN = ".publish.json"
STALE_TMP = re.compile(r"\A\..+\.(\d+)\.tmp\Z")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate it: never guess there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def recover(out: Path) -> None:
    """Finish a publication a killed run left half done; drop what dead runs left behind."""
    out = Path(out)
    if not out.is_dir():
        return
    pending = out / PENDING
    if pending.is_dir() and not pending.is_symlink():
        finish_publish(out)
    elif pending.is_symlink() or pending.exists():  # not something a run of ours made
        pending.unlink()
    for child in out.iterdir():
        name = child.name
        if name.startswith(STAGING_PREFIX) and name[len(STAGING_PREFIX):].isdigit() and not child.is_symlink() \
                and child.is_dir() and not _pid_alive(int(name[len(STAGING_PREFIX):])):
            shutil.rmtree(child, ignore_errors=True)
    for folder in (out, out / "work"):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for child in folder.iterdir():
            match = STALE_TMP.match(child.name)
            if match and child.is_file() and not child.is_symlink() and not _pid_alive(int(match.group(1))):
                child.unlink(missing_ok=True)


def start_staging(out: Path) -> Path:
    """A fresh, empty staging folder inside OUT (created if missing); raises OSError when
    OUT cannot be written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recover(out)
    staging = out / f"{STAGING_PREFIX}{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def stale_files(out: Path, patterns: Iterable[str], keep: Iterable[str]) -> list[str]:
    """Files under OUT matching the patterns that are not in keep: outputs of an earlier
    run the new one does not produce. A pattern is `folder/name-glob` or
    `folder/**/name-glob` (any depth); links, and folders reached through links, are skipped."""
    from fnmatch import fnmatchcase

    keep = set(keep)
    found = set()
    for pattern in patterns:
        folder, _, name_glob = pattern.rpartition("/")
        recursive = folder.endswith("/**") or folder == "**"
        folder = folder[: -len("**")].rstrip("/") if recursive else folder
        base = Path(out) / folder if folder else Path(out)
        if not base.is_dir() or base.is_symlink():
            continue
        for current, dirs, files in os.walk(base, followlinks=False):
            for name in files:
                path = Path(current) / name
                relative = path.relative_to(out).as_posix()
                if fnmatchcase(name, name_glob) and not path.is_symlink() and relative not in keep:
                    found.add(relative)
            if not recursive:
                break
    return sorted(found)


def staged_files(staging: Path) -> list[str]:
    return sorted(p.relative_to(staging).as_posix() for p in Path(staging).rglob("*")
                  if p.is_file() and p.name != PUBLISH_PLAN)


def publish(staging: Path, out: Path, stale_patterns: Iterable[str] = ()) -> list[str]:
    """Move every file of the staging folder to the same place in OUT (see above); files
    of OUT matching stale_patterns that the run did not produce are removed. Returns the
    files that could not be placed (their folder in OUT leads outside it)."""
    staging, out = Path(staging), Path(out)
    files = staged_files(staging)
    plan = {"files": files, "remove": stale_files(out, stale_patterns, files)}
    atomic_write(staging / PUBLISH_PLAN, json.dumps(plan, ensure_ascii=False, sort_keys=True))
    if (out / PENDING).exists():
        finish_publish(out)
    staging.rename(out / PENDING)  # the commit point
    return finish_publish(out)


def _stays_inside(folder: Path, root: Path) -> bool:
    """True when folder, and whatever part of it exists already, resolves inside root (so
    creating it cannot create anything elsewhere through a link)."""
    existing = folder
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    return existing.resolve().is_relative_to(root) and folder.resolve().is_relative_to(root)


def finish_publish(out: Path) -> list[str]:
    """Carry out OUT/.pending/: move its files into OUT, remove stale ones, drop it."""
    out = Path(out)
    pending = out / PENDING
    root = out.resolve()
    try:
        plan = json.loads((pending / PUBLISH_PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not a folder we made whole: nothing to carry out
        shutil.rmtree(pending, ignore_errors=True)
        return []
    refused, errors = [], []
    for relative in plan["files"]:
        source = pending / relative
        if not source.is_file():
            continue  # moved before an interruption
        target = out / relative
        try:
            if not _stays_inside(target.parent, root):  # a linked folder leading out of OUT
                refused.append(relative)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        except FileNotFoundError:
            continue  # moved meanwhile by another command finishing the same publication
        except OSError as error:
            errors.append(f"{target}: {error.strerror or error}")
    for relative in plan["remove"]:
        path = out / relative
        if path.is_file() and not path.is_symlink() and path.parent.resolve().is_relative_to(root):
            path.unlink(missing_ok=True)
    shutil.rmtree(pending, ignore_errors=True)
    if errors:
        raise OSError(f"some outputs could not be written: {'; '.join(errors)}")
    return refused
