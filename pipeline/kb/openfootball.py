"""Reader for the openfootball/clubs plain-text data tree.

Format (see ``../shared/data/clubs/README.md``)::

    = Italy                                  <- country heading
    == Lombardia ==                          <- region heading
    AC Milan,   Milano                       <- club: Name, [year,] [@ stadium,] city
      | Milan | Associazione Calcio Milan   <- alternative names, ``|``-separated
      | AC Mailand [de]                      <- ``[xx]`` marks a language
    ii) AC Milan Primavera                   <- reserve team (skipped, with its ``|`` lines)
     Via Aldo Rossi 8 // 20149 Milano        <- address line (skipped)
    ## comment (``#`` also starts a comment in practice)

Only files named ``*.clubs.txt`` hold clubs; ``*.clubs.props.txt``,
``*.clubs.history.txt``, ``*.clubs.lang.xx.txt``, ``*.stadiums.txt``, the
``clubs.wiki*.txt`` lists and the ``0-world/`` region lists are not club files and
are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

# Language tags we keep (untagged names are kept too); other tagged names are dropped.
KEEP_LANGS = frozenset({"en", "it"})

# Folder name -> English country name, where title-casing the folder is not enough.
COUNTRY_FIXES = {
    "latvija": "Latvia",
    "macedonia": "North Macedonia",
    "congo-dr": "DR Congo",
    "bosnia-n-herzegovina": "Bosnia and Herzegovina",
    "trinidad-n-tobago": "Trinidad and Tobago",
    "united-states": "United States",
    "united-arab-emirates": "United Arab Emirates",
}

_LANG_TAG = re.compile(r"\s*\[([A-Za-z]{2,3})\]\s*$")
_YEARS_IN_NAME = re.compile(r"\s*\(\s*(\d{4})?\s*(-)?\s*(\d{4})?\s*\)\s*$")
_WS = re.compile(r"\s+")


@dataclass
class Club:
    name: str
    country: str
    city: str = ""
    aliases: list[str] = field(default_factory=list)
    defunct: bool = False
    source: str = ""  # relative path of the file it came from
    line: int = 0

    def add_alias(self, alias: str) -> None:
        if alias and alias != self.name and alias not in self.aliases:
            self.aliases.append(alias)


def country_from_dir(dirname: str) -> str:
    if dirname in COUNTRY_FIXES:
        return COUNTRY_FIXES[dirname]
    return " ".join(w.capitalize() for w in dirname.replace("-n-", "-and-").split("-")).replace(
        " And ", " and "
    )


def clean(text: str) -> str:
    """Normalise a name: NFC, single spaces, no stray punctuation at the ends."""
    text = unicodedata.normalize("NFC", text)
    text = _WS.sub(" ", text).strip()
    return text.strip(",;").strip()


def split_alias(raw: str) -> str | None:
    """Return the alias without its language tag, or None if its language is not kept."""
    raw = clean(raw)
    m = _LANG_TAG.search(raw)
    if m:
        if m.group(1).lower() not in KEEP_LANGS:
            return None
        raw = clean(raw[: m.start()])
    return raw or None


def parse_header(line: str) -> tuple[str, str, bool]:
    """``Name, [year,] [@ stadium,] city`` -> (name, city, defunct)."""
    fields = [clean(f) for f in line.split(",")]
    name = fields[0]
    defunct = False
    m = _YEARS_IN_NAME.search(name)
    if m and (m.group(1) or m.group(3)):
        # "(1870-2009)" or "(-2023)": an end year means the club no longer exists
        defunct = bool(m.group(3)) and bool(m.group(2))
        name = clean(name[: m.start()])
    m_tag = _LANG_TAG.search(name)
    if m_tag:
        name = clean(name[: m_tag.start()])
    city = ""
    for f in fields[1:]:
        if not f or f.startswith("@") or re.fullmatch(r"\d{4}", f):
            continue
        city = clean(re.sub(r"^\d{4}\s+", "", re.split(r"[(›]", f)[0]))
        break
    return name, city, defunct


def parse_file(path: Path, country: str, rel: str = "") -> list[Club]:
    clubs: list[Club] = []
    current: Club | None = None
    text = path.read_text(encoding="utf-8-sig")
    for lineno, raw in enumerate(text.splitlines(), 1):
        raw = raw.replace("\r", "").replace("\t", "    ")
        line = raw.split("#", 1)[0]  # '#' and '##' start comments; names never hold '#'
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("="):  # country / region heading
            current = None
            continue
        if stripped.lower().startswith("ii)"):  # reserve team and its alias lines
            current = None
            continue
        if stripped.startswith("|"):
            if current is not None:
                for part in stripped.split("|"):
                    alias = split_alias(part)
                    if alias:
                        current.add_alias(alias)
            continue
        indented = line[:1].isspace()
        if indented and "//" in stripped:  # street address
            continue
        if indented and "," not in stripped:
            # a stray alternative name written without the leading '|'
            if current is not None:
                alias = split_alias(stripped)
                if alias:
                    current.add_alias(alias)
            continue
        name, city, defunct = parse_header(stripped)
        if not name:
            current = None
            continue
        current = Club(name=name, country=country, city=city, defunct=defunct, source=rel, line=lineno)
        clubs.append(current)
    return clubs


def club_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.clubs.txt") if p.is_file())


def read_tree(root: Path) -> list[Club]:
    """All clubs of the tree, in a deterministic order (file path, then line)."""
    root = Path(root)
    out: list[Club] = []
    for path in club_files(root):
        rel = path.relative_to(root).as_posix()
        country = country_from_dir(path.parent.name)
        out.extend(parse_file(path, country, rel))
    # Merge repeated entries of the same club in the same country.
    merged: dict[tuple[str, str], Club] = {}
    result: list[Club] = []
    for club in out:
        key = (club.country, club.name)
        if key in merged:
            first = merged[key]
            for a in club.aliases:
                first.add_alias(a)
            continue
        merged[key] = club
        result.append(club)
    return result
