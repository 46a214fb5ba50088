"""Stage 1: find the articles, decode them, split off the date header, record a manifest.

Every input file ends up in the manifest with a status, whatever happens to it: a file
that cannot be read is recorded as ``failed: <why>`` or ``skipped: <why>`` and the run
goes on with the others. Nothing here follows a link out of the input folder, reads more
than the size limit, or raises for a bad file.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

DEFAULT_MAX_BYTES = 5_000_000
# Longest article text (characters, after decoding) sent to the NLP stages. News articles
# are a few thousand characters; spaCy refuses texts over 1,000,000 and the rule stages
# slow down with very long texts, so a longer file is skipped with the reason.
DEFAULT_MAX_CHARS = 50_000

# " date 2026-03-04 text..." or "date 2024-11\ntext...": the header is the first thing
# in the file, the text follows on the same line or the next one.
DATE_HEADER = re.compile(r"\A[\ufeff\s]*date[ \t]+(\S+)[ \t]*(?:\r?\n)?", re.IGNORECASE)
VALID_DATE = re.compile(r"\A(\d{4})-(\d{2})(?:-(\d{2}))?\Z", re.ASCII)
LEGACY_ENCODINGS = ("cp1252", "latin-1")

# Magic numbers of formats that are not text even when their first bytes hold no NUL.
BINARY_SIGNATURES = {
    b"%PDF-": "PDF", b"\x89PNG\r\n\x1a\n": "PNG image", b"GIF87a": "GIF image", b"GIF89a": "GIF image",
    b"\xff\xd8\xff": "JPEG image", b"PK\x03\x04": "ZIP archive (or docx/xlsx)", b"\x1f\x8b": "gzip archive",
    b"\x7fELF": "executable", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "MS Office document",
    b"{\\rtf": "RTF document",
}
# Share of control characters above which decoded "text" is taken for binary data.
MAX_CONTROL_SHARE = 0.05
TEXT_CONTROLS = "\t\n\r\f\v"


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


def printable_path(text: str) -> str:
    """A file name as valid UTF-8: bytes that were not UTF-8 (kept by Python as lone
    surrogates) are shown as %XX, so ids and paths can be written to JSON and CSV."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return "".join(f"%{ord(ch) - 0xDC00:02X}" if "\udc80" <= ch <= "\udcff" else ch for ch in text)


def article_id_for(path: Path, root: Path) -> str:
    """The file's path relative to the input folder, without `.txt`, `/`-separated."""
    relative = printable_path(path.relative_to(root).as_posix())
    return relative[: -len(".txt")] if relative.lower().endswith(".txt") else relative


def find_articles(root: Path, unreadable: list[tuple[Path, OSError]] | None = None) -> list[Path]:
    """Every `*.txt` entry below root (files and links to files), sorted.

    Linked folders are not entered, so nothing outside root is reached through them and
    a link loop cannot trap the walk; a linked *file* is listed and read_article decides
    (a link leading outside root is recorded as skipped, never read). Folders that cannot
    be listed are appended to `unreadable`.
    """
    found = []

    def note(error: OSError) -> None:
        if unreadable is not None and error.filename is not None:
            unreadable.append((Path(error.filename), error))

    for folder, dirs, files in os.walk(root, followlinks=False, onerror=note):
        dirs.sort()
        for name in files:
            if name.lower().endswith(".txt"):
                found.append(Path(folder) / name)
        for name in dirs:  # os.walk lists a link to a folder among dirs and does not enter it
            if name.lower().endswith(".txt") and (Path(folder) / name).is_symlink():
                found.append(Path(folder) / name)
    return sorted(found)


def binary_kind(raw: bytes) -> str | None:
    """Why raw is not text (a known magic number, NUL bytes), or None."""
    for signature, kind in BINARY_SIGNATURES.items():
        if raw.startswith(signature):
            return kind
    if b"\x00" in raw:
        return "contains NUL bytes"
    return None


def decode(raw: bytes) -> tuple[str, str]:
    """Decode UTF-8 (with or without BOM) or UTF-16/32 with a BOM, else a legacy encoding.

    Raises ValueError (with a short reason) for binary data.
    """
    for bom, encoding in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                          (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                raise ValueError(f"malformed {encoding.upper()} text") from None
            return check_text(text), encoding
    kind = binary_kind(raw)
    if kind:
        raise ValueError(f"binary file ({kind})")
    try:
        return check_text(raw.decode("utf-8-sig")), "utf-8"
    except UnicodeDecodeError:
        pass
    for encoding in LEGACY_ENCODINGS:
        try:
            return check_text(raw.decode(encoding)), encoding
        except UnicodeDecodeError:
            continue
    raise ValueError("undecodable text")  # pragma: no cover - latin-1 decodes anything


def check_text(text: str) -> str:
    """text, unless so much of it is control characters that it must be binary data."""
    if text:
        controls = sum(1 for ch in text if (ch < " " and ch not in TEXT_CONTROLS) or "\x7f" <= ch <= "\x9f")
        if controls > MAX_CONTROL_SHARE * len(text):
            raise ValueError("binary file (control characters)")
    return text


def split_date_header(text: str) -> tuple[str, str, str | None]:
    """Return (date, text without header, warning). An invalid date is dropped with a warning."""
    match = DATE_HEADER.match(text)
    if not match:
        return "", text.lstrip("\ufeff"), None
    candidate, body = match.group(1), text[match.end():]
    if is_valid_date(candidate):
        return candidate, body, None
    return "", body, f"malformed date header {candidate[:40]!r} ignored"


def is_valid_date(candidate: str) -> bool:
    match = VALID_DATE.match(candidate)
    if not match:
        return False
    year, month, day = (int(g) if g else None for g in match.groups())
    if not 1 <= month <= 12 or year < 1:
        return False
    if day is None:
        return True
    from calendar import monthrange

    return 1 <= day <= monthrange(year, month)[1]


def clean_text(text: str) -> str:
    """Normalise line endings and drop control characters, keeping offsets meaningful."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ch >= " " or ch == "\u00a0")


def read_limited(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when it holds more than max_bytes (never half-read)."""
    with path.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    return None if len(raw) > max_bytes else raw


def read_article(path: Path, root: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_chars: int = DEFAULT_MAX_CHARS) -> Article:
    """Read one file into an Article; never raises for a bad file."""
    article = Article(article_id=article_id_for(path, root), path=printable_path(path.as_posix()))
    try:
        if path.is_symlink():
            try:
                target = path.resolve()
            except (OSError, RuntimeError):  # a loop of links
                target = None
            if target is not None and not target.is_relative_to(root.resolve()):
                article.status = "skipped: link to a file outside the input folder (not followed)"
                return article
            if target is None or not target.exists():
                article.status = "skipped: broken link"
                return article
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            article.status = "skipped: not a regular file"
            return article
        if info.st_size > max_bytes:
            article.status = f"skipped: file larger than {max_bytes} bytes ({info.st_size})"
            return article
        raw = read_limited(path, max_bytes)
    except OSError as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        article.status = f"failed: cannot read ({reason})"
        return article
    if raw is None:  # grew past the limit since stat
        article.status = f"skipped: file larger than {max_bytes} bytes"
        return article
    article.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text, article.encoding = decode(raw)
    except ValueError as error:
        article.status = f"skipped: {error}"
        return article
    if article.encoding not in ("utf-8", "utf-16", "utf-32"):
        article.warnings.append(f"not UTF-8, decoded as {article.encoding}")
    article.date, text, warning = split_date_header(clean_text(text))
    if warning:
        article.warnings.append(warning)
    article.text = text
    if not text.strip():
        article.status = "skipped: empty file"
    elif len(text) > max_chars:
        article.status = f"skipped: text longer than {max_chars} characters ({len(text)})"
    return article


def ingest(root: Path, max_bytes: int = DEFAULT_MAX_BYTES,
           max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Article]:
    """Yield one Article per `*.txt` file below root, in a fixed order."""
    seen: dict[str, str] = {}
    unreadable: list[tuple[Path, OSError]] = []
    paths = find_articles(root, unreadable)
    for folder, error in unreadable:
        if folder == root:
            continue  # the caller checks the input folder itself
        article = Article(article_id=printable_path(folder.relative_to(root).as_posix()) + "/",
                          path=printable_path(folder.as_posix()),
                          status=f"failed: cannot read folder ({error.strerror or error})")
        print(f"warning: {article.path}: {article.status}", file=sys.stderr)
        yield article
    for path in paths:
        article = read_article(path, root, max_bytes, max_chars)
        if article.article_id in seen:  # "a.txt" and "a.TXT", or names that differ in bad bytes only
            article.status = f"skipped: same article id as {seen[article.article_id]}"
            article.text = ""
        else:
            seen[article.article_id] = article.path
        for warning in article.warnings:
            print(f"warning: {article.article_id}: {warning}", file=sys.stderr)
        yield article
