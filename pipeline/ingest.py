"""Stage 1: find the articles, decode them, split off the date header, record a manifest.

Every input file ends up in the manifest with a status, whatever happens to it: a file
that cannot be read is recorded as ``failed: <why>`` or ``skipped: <why>`` and the run
goes on with the others.
"""
from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

DEFAULT_MAX_BYTES = 5_000_000

# " date 2026-03-04 text..." or "date 2024-11\ntext...": the header is the first thing
# in the file, the text follows on the same line or the next one.
DATE_HEADER = re.compile(r"\A[\ufeff\s]*date[ \t]+(\S+)[ \t]*(?:\r?\n)?", re.IGNORECASE)
VALID_DATE = re.compile(r"\A(\d{4})-(\d{2})(?:-(\d{2}))?\Z")
LEGACY_ENCODINGS = ("cp1252", "latin-1")


@dataclass
class Article:
    """One input file and what ingest learned about it."""

    article_id: str
    path: str
    sha256: str = ""
    date: str = ""
    text: str = ""
    encoding: str = ""
    status: str = "ok"
    warnings: list[str] = field(default_factory=list)
    language: str = ""
    language_prob: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict:
        return asdict(self)


def article_id_for(path: Path, root: Path) -> str:
    """The file's path relative to the input folder, without `.txt`, `/`-separated."""
    relative = path.relative_to(root).as_posix()
    return relative[: -len(".txt")] if relative.lower().endswith(".txt") else relative


def find_articles(root: Path) -> list[Path]:
    """Every `*.txt` below root, sorted; symlinks that lead outside root are skipped."""
    resolved_root = root.resolve()
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() != ".txt":
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(resolved_root):
            continue
        if path.is_file() or not path.exists():
            found.append(path)
    return found


def decode(raw: bytes) -> tuple[str, str]:
    """Decode UTF-8 (with or without BOM) or UTF-16 with a BOM, else a legacy encoding."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    if b"\x00" in raw:
        raise ValueError("binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    for encoding in LEGACY_ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ValueError("undecodable text")  # pragma: no cover - latin-1 decodes anything


def split_date_header(text: str) -> tuple[str, str, str | None]:
    """Return (date, text without header, warning). An invalid date is dropped with a warning."""
    match = DATE_HEADER.match(text)
    if not match:
        return "", text.lstrip("\ufeff"), None
    candidate, body = match.group(1), text[match.end():]
    if is_valid_date(candidate):
        return candidate, body, None
    return "", body, f"malformed date header {candidate!r} ignored"


def is_valid_date(candidate: str) -> bool:
    match = VALID_DATE.match(candidate)
    if not match:
        return False
    year, month, day = (int(g) if g else None for g in match.groups())
    if not 1 <= month <= 12:
        return False
    if day is None:
        return True
    from calendar import monthrange

    return 1 <= day <= monthrange(year, month)[1]


def clean_text(text: str) -> str:
    """Normalise line endings and drop control characters, keeping offsets meaningful."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ch >= " " or ch == "\u00a0")


def read_article(path: Path, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Article:
    """Read one file into an Article; never raises for a bad file."""
    article = Article(article_id=article_id_for(path, root), path=path.as_posix())
    try:
        size = path.stat().st_size
        if size > max_bytes:
            article.status = f"skipped: file larger than {max_bytes} bytes ({size})"
            return article
        raw = path.read_bytes()
    except OSError as error:
        article.status = f"failed: cannot read ({error.strerror or error})"
        return article
    article.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text, article.encoding = decode(raw)
    except ValueError as error:
        article.status = f"skipped: {error}"
        return article
    if article.encoding not in ("utf-8", "utf-16"):
        article.warnings.append(f"not UTF-8, decoded as {article.encoding}")
    article.date, text, warning = split_date_header(clean_text(text))
    if warning:
        article.warnings.append(warning)
    article.text = text
    if not text.strip():
        article.status = "skipped: empty file"
    return article


def ingest(root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Article]:
    """Yield one Article per `*.txt` file below root, in a fixed order."""
    for path in find_articles(root):
        article = read_article(path, root, max_bytes)
        for warning in article.warnings:
            print(f"warning: {article.article_id}: {warning}", file=sys.stderr)
        yield article
