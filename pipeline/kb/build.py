"""Build the knowledge base ``pipeline/kb/entities.jsonl``.

Sources:

* openfootball/clubs (CC0 1.0), read from ``../shared/data/clubs`` (never copied into
  the repository): club names and their alternative names;
* our hand-written YAML files next to this script: ``clubs_extra.yml`` (display names,
  nicknames, priorities, alias policy), ``national_teams.yml``, ``federations.yml``,
  ``media.yml`` and ``people.yml``.

Usage::

    python -m pipeline.kb.build [--clubs ../shared/data/clubs] [--out pipeline/kb/entities.jsonl]
                                [--kb-dir pipeline/kb] [--strict] [--report]

The output holds one JSON object per line, sorted by ``id``; two runs on the same input
give byte-identical files. A malformed YAML entry stops the build with a message naming
the file and the entry, and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from pipeline.kb import openfootball
from pipeline.kb.openfootball import clean

KB_DIR = Path(__file__).resolve().parent
REPO_ROOT = KB_DIR.parents[1]
DEFAULT_CLUBS = REPO_ROOT.parent / "shared" / "data" / "clubs"
DEFAULT_OUT = KB_DIR / "entities.jsonl"

TYPES = ("CLUB", "NATIONAL", "FEDERATION", "COMPETITION", "STADIUM", "MEDIA", "COACH", "PLAYER", "PRESIDENT", "JOURNALIST", "OFFICIAL")
PERSON_TYPES = ("COACH", "PLAYER", "PRESIDENT", "JOURNALIST", "OFFICIAL")
DEFAULT_PRIORITY = {
    "CLUB": 1,  # openfootball clubs we say nothing about
    "NATIONAL": 5,
    "FEDERATION": 2,
    "COMPETITION": 6,  # "Coppa Italia" must win over "Italia"
    "STADIUM": 0,
    "MEDIA": 1,
    "COACH": 0,
    "PLAYER": 0,
    "PRESIDENT": 0,
    "JOURNALIST": 0,
    "OFFICIAL": 0,
}
DEFUNCT_PRIORITY = 0
TYPE_FILES = {"CLUB": "clubs_extra.yml", "NATIONAL": "national_teams.yml", "FEDERATION": "federations.yml",
              "COMPETITION": "competitions.yml",
              "MEDIA": "media.yml", **{t: "people.yml" for t in PERSON_TYPES}}
MIN_ALIAS_LEN = 3

# Name particles that belong to a surname ("De Rossi", "ten Hag", "van Dijk").
SURNAME_PARTICLES = {
    "de", "di", "da", "del", "della", "dei", "van", "von", "ten", "ter", "der", "den",
    "dos", "das", "do", "la", "le", "mac", "al", "el", "st.", "san", "lo",
}


class KBError(Exception):
    """A problem in the input data; the message names file and entry."""


@dataclass
class Entity:
    type: str
    name: str
    aliases: list[str] = field(default_factory=list)
    aliases_ci: list[str] = field(default_factory=list)
    country: str | None = None
    priority: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # alias -> True when it comes from our YAML (trusted), False when from openfootball
    trusted: dict[str, bool] = field(default_factory=dict)
    id: str = ""

    def add_alias(self, alias: str, trusted: bool) -> None:
        alias = clean(alias)
        if not alias:
            return
        if alias not in self.trusted:
            self.aliases.append(alias)
            self.trusted[alias] = trusted
        elif trusted:
            self.trusted[alias] = True

    def remove_alias(self, alias: str) -> None:
        if alias in self.trusted:
            del self.trusted[alias]
            self.aliases.remove(alias)


# --------------------------------------------------------------------------- helpers


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("ß", "ss").replace("ø", "o").replace("Ø", "o").replace("ł", "l").replace("Ł", "l")
    text = text.replace("ı", "i").replace("đ", "d").replace("Đ", "d").replace("æ", "ae")
    text = text.lower().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def fold(text: str) -> str:
    """Case- and accent-insensitive key."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


_PLAIN = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ı": "i", "đ": "d", "Đ": "D",
                        "ß": "ss", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ð": "d", "Ð": "D",
                        "þ": "th", "Þ": "Th"})


_UMLAUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def deaccent(text: str) -> str:
    """"Fenerbahçe" -> "Fenerbahce", "Ødegaard" -> "Odegaard" (case kept)."""
    text = unicodedata.normalize("NFKD", text.translate(_PLAIN))
    return unicodedata.normalize("NFC", "".join(c for c in text if not unicodedata.combining(c)))


def spelling_variants(text: str) -> set[str]:
    """Forms the press also writes: without accents, with the other apostrophe."""
    out = {text, deaccent(text)}
    if any(c in text for c in "äöüÄÖÜ"):  # German transliteration: "Juergen Klinsmann"
        out.add(deaccent(text.translate(_UMLAUT)))
    for form in list(out):
        if "'" in form:
            out.add(form.replace("'", "’"))
        if "’" in form:
            out.add(form.replace("’", "'"))
    out.discard(text)
    return out


def load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise KBError(f"{path.name}: not valid YAML: {exc}") from exc


def _where(path: Path, what: str) -> str:
    return f"{path.name}: {what}"


def _str_list(value: Any, path: Path, what: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise KBError(_where(path, f"{what}: '{key}' must be a list of strings, got {type(value).__name__}"))
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise KBError(_where(path, f"{what}: '{key}' holds an empty or non-string item: {item!r}"))
        out.append(clean(item))
    return out


def _check_keys(entry: dict, allowed: Iterable[str], path: Path, what: str) -> None:
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise KBError(_where(path, f"{what}: unknown field(s) {', '.join(unknown)}"))


def _int(value: Any, path: Path, what: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KBError(_where(path, f"{what}: '{key}' must be an integer, got {value!r}"))
    return value


def _name(entry: dict, path: Path, what: str, key: str = "name") -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise KBError(_where(path, f"{what}: missing or empty '{key}'"))
    return clean(value)


def _ci_list(entry: dict, path: Path, what: str) -> list[str]:
    out = _str_list(entry.get("aliases_ci"), path, what, "aliases_ci")
    for a in out:
        if a != a.lower():
            raise KBError(_where(path, f"{what}: aliases_ci entries must be lowercase: {a!r}"))
    return out


# --------------------------------------------------------------------------- clubs


@dataclass
class ClubPolicy:
    strip_countries: set[str]
    prefixes: list[str]
    suffixes: list[str]
    generic_words: set[str]
    city_words: set[str]
    short_ok: set[str]
    reserved: dict[str, str]  # alias -> display name of the only club that may use it
    context_words: set[str]  # folded surface forms that are also ordinary words


def _strip_affixes(name: str, prefixes: list[str], suffixes: list[str]) -> str:
    changed = True
    out = name
    while changed:
        changed = False
        for p in prefixes:
            if out.startswith(p + " ") and len(out) > len(p) + 1:
                out = out[len(p) + 1 :].strip()
                changed = True
        for s in suffixes:
            if out.endswith(" " + s) and len(out) > len(s) + 1:
                out = out[: -(len(s) + 1)].strip()
                changed = True
    return out


def read_club_policy(path: Path, data: dict) -> ClubPolicy:
    rule = data.get("display_rule") or {}
    if not isinstance(rule, dict):
        raise KBError(_where(path, "display_rule must be a mapping"))
    _check_keys(rule, ("countries", "prefixes", "suffixes"), path, "display_rule")
    reserved = data.get("reserved_aliases") or {}
    if not isinstance(reserved, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in reserved.items()
    ):
        raise KBError(_where(path, "reserved_aliases must map alias -> club display name (strings)"))
    prefixes = _str_list(rule.get("prefixes"), path, "display_rule", "prefixes")
    suffixes = _str_list(rule.get("suffixes"), path, "display_rule", "suffixes")
    # longest affix first so that "1. FC" wins over "FC"
    prefixes.sort(key=lambda s: (-len(s), s))
    suffixes.sort(key=lambda s: (-len(s), s))
    return ClubPolicy(
        strip_countries=set(_str_list(rule.get("countries"), path, "display_rule", "countries")),
        prefixes=prefixes,
        suffixes=suffixes,
        generic_words={fold(w) for w in _str_list(data.get("generic_words"), path, "generic_words", "generic_words")},
        city_words={fold(w) for w in _str_list(data.get("city_words"), path, "city_words", "city_words")},
        short_ok=set(_str_list(data.get("short_ok"), path, "short_ok", "short_ok")),
        reserved={clean(k): clean(v) for k, v in reserved.items()},
        context_words={fold(w) for w in _str_list(data.get("context_words"), path, "context_words", "context_words")},
    )


CLUB_KEYS = ("of", "name", "country", "aliases", "aliases_ci", "drop", "priority", "defunct")


def read_club_entries(path: Path, data: dict) -> list[dict]:
    """Flatten the ``groups`` of clubs_extra.yml into validated entries."""
    groups = data.get("groups")
    if not isinstance(groups, list):
        raise KBError(_where(path, "'groups' must be a list of club groups"))
    entries = []
    for gi, group in enumerate(groups, 1):
        gwhat = f"group #{gi}"
        if not isinstance(group, dict):
            raise KBError(_where(path, f"{gwhat}: must be a mapping, got {group!r}"))
        _check_keys(group, ("group", "country", "priority", "clubs"), path, gwhat)
        gname = group.get("group")
        if isinstance(gname, str):
            gwhat = f"group '{gname}'"
        gcountry = group.get("country")
        if gcountry is not None and not isinstance(gcountry, str):
            raise KBError(_where(path, f"{gwhat}: 'country' must be a string"))
        gprio = _int(group["priority"], path, gwhat, "priority") if "priority" in group else None
        clubs = group.get("clubs")
        if not isinstance(clubs, list):
            raise KBError(_where(path, f"{gwhat}: 'clubs' must be a list"))
        for ci, entry in enumerate(clubs, 1):
            if isinstance(entry, str):
                entry = {"of": entry}
            what = f"{gwhat}, club #{ci}"
            if not isinstance(entry, dict):
                raise KBError(_where(path, f"{what}: must be a name or a mapping, got {entry!r}"))
            label = entry.get("name") or entry.get("of")
            if isinstance(label, str):
                what = f"{gwhat}, club '{label}'"
            _check_keys(entry, CLUB_KEYS, path, what)
            if "of" not in entry and "name" not in entry:
                raise KBError(_where(path, f"{what}: needs 'of' (openfootball name) or 'name'"))
            e = {
                "of": _name(entry, path, what, "of") if "of" in entry else None,
                "name": _name(entry, path, what, "name") if "name" in entry else None,
                "country": clean(entry["country"]) if isinstance(entry.get("country"), str) else gcountry,
                "aliases": _str_list(entry.get("aliases"), path, what, "aliases"),
                "aliases_ci": _ci_list(entry, path, what),
                "drop": _str_list(entry.get("drop"), path, what, "drop"),
                "priority": _int(entry["priority"], path, what, "priority") if "priority" in entry else gprio,
                "defunct": entry.get("defunct"),
                "what": what,
            }
            if "country" in entry and not isinstance(entry["country"], str):
                raise KBError(_where(path, f"{what}: 'country' must be a string"))
            if e["country"] is None:
                raise KBError(_where(path, f"{what}: no 'country' (give it on the club or its group)"))
            if e["defunct"] is not None and not isinstance(e["defunct"], bool):
                raise KBError(_where(path, f"{what}: 'defunct' must be true or false"))
            entries.append(e)
    return entries


def build_clubs(
    clubs_dir: Path, path: Path, national_names: set[str], warnings: list[str]
) -> tuple[list[Entity], ClubPolicy]:
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise KBError(_where(path, "top level must be a mapping"))
    policy = read_club_policy(path, data)
    entries = read_club_entries(path, data)

    of_clubs = openfootball.read_tree(clubs_dir) if clubs_dir is not None else []
    by_key: dict[tuple[str, str], openfootball.Club] = {(c.country, c.name): c for c in of_clubs}

    # clubs per (country, city), to spot aliases that just name a city with several clubs
    city_count: dict[tuple[str, str], int] = defaultdict(int)
    for c in of_clubs:
        if c.city:
            city_count[(c.country, fold(c.city))] += 1

    # 1. YAML entries attached to openfootball clubs, or new clubs
    yaml_for: dict[tuple[str, str], dict] = {}
    new_entries: list[dict] = []
    for e in entries:
        if e["of"] is None:
            new_entries.append(e)
            continue
        key = (e["country"], e["of"])
        if key in yaml_for:
            raise KBError(_where(path, f"{e['what']}: openfootball club '{e['of']}' ({e['country']}) listed twice"))
        if key not in by_key:
            warnings.append(
                f"{path.name}: {e['what']}: openfootball has no club '{e['of']}' in {e['country']}; "
                "added from our data only"
            )
            new_entries.append({**e, "name": e["name"] or e["of"], "of_missing": True})
            continue
        yaml_for[key] = e

    # 2. display names
    entities: list[Entity] = []
    taken_display: dict[str, int] = defaultdict(int)
    plain_names = {fold(c.name) for c in of_clubs}
    stripped: dict[tuple[str, str], str] = {}
    for c in of_clubs:
        e = yaml_for.get((c.country, c.name))
        if e and e["name"]:
            continue
        if c.country in policy.strip_countries:
            s = _strip_affixes(c.name, policy.prefixes, policy.suffixes)
            if (s != c.name and len(s) >= MIN_ALIAS_LEN and fold(s) not in policy.generic_words
                    and fold(s) not in policy.city_words):
                stripped[(c.country, c.name)] = s
                taken_display[fold(s)] += 1
    yaml_names = {fold(e["name"]) for e in entries if e["name"]}
    # every name another club may be called by: a short name equal to one is not unique
    alias_owners: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for c in of_clubs:
        for a in c.aliases:
            alias_owners[fold(a)].add((c.country, c.name))
    for e in entries:
        for a in e["aliases"]:
            alias_owners[fold(a)].add((e["country"], e["of"] or e["name"]))
    reserved_folded = {fold(a) for a in policy.reserved}

    for c in of_clubs:
        key = (c.country, c.name)
        e = yaml_for.get(key)
        display = c.name
        if e and e["name"]:
            display = e["name"]
        elif key in stripped:
            s = stripped[key]
            # keep the full name when the short one would be shared with another club
            unique = (
                taken_display[fold(s)] == 1
                and fold(s) not in yaml_names
                and (fold(s) not in plain_names or fold(s) == fold(c.name))
                and not (alias_owners.get(fold(s), set()) - {key})
                and fold(s) not in reserved_folded
            )
            if unique:
                display = s
        defunct = c.defunct if not (e and e["defunct"] is not None) else e["defunct"]
        if e and e["priority"] is not None:
            prio = e["priority"]
        else:
            prio = DEFUNCT_PRIORITY if defunct else DEFAULT_PRIORITY["CLUB"]
        ent = Entity(type="CLUB", name=display, country=c.country, priority=prio)
        ent.extra["city"] = c.city or None
        ent.extra["source"] = "openfootball"
        if defunct:
            ent.extra["defunct"] = True
        if display != c.name:
            ent.add_alias(c.name, trusted=True)
        drop = {fold(d) for d in (e["drop"] if e else [])}
        for alias in c.aliases:
            alias = _clean_of_alias(alias)
            if not alias or fold(alias) in drop:
                continue
            if not _of_alias_ok(alias, c, policy, city_count, national_names):
                continue
            ent.add_alias(alias, trusted=False)
        if e:
            for alias in e["aliases"]:
                ent.add_alias(alias, trusted=True)
            ent.aliases_ci = list(e["aliases_ci"])
        entities.append(ent)

    for e in new_entries:
        name = e["name"] or e["of"]
        prio = e["priority"] if e["priority"] is not None else DEFAULT_PRIORITY["CLUB"]
        ent = Entity(type="CLUB", name=name, country=e["country"], priority=prio)
        ent.extra["city"] = None
        ent.extra["source"] = "ours"
        if e["defunct"]:
            ent.extra["defunct"] = True
        if e["of"] and e["of"] != name:
            ent.add_alias(e["of"], trusted=True)
        for alias in e["aliases"]:
            ent.add_alias(alias, trusted=True)
        ent.aliases_ci = list(e["aliases_ci"])
        entities.append(ent)

    # 3. reserved aliases: exactly one club may carry them
    by_display: dict[str, list[Entity]] = defaultdict(list)
    for ent in entities:
        by_display[ent.name].append(ent)
    for alias, owner_name in sorted(policy.reserved.items()):
        owners = by_display.get(owner_name, [])
        if len(owners) != 1:
            raise KBError(
                _where(path, f"reserved_aliases: '{alias}' -> '{owner_name}': "
                       f"{'no' if not owners else len(owners)} club(s) with that display name")
            )
        owner = owners[0]
        for ent in entities:
            if ent is owner:
                continue
            for a in list(ent.aliases):
                if a == alias:
                    if ent.trusted.get(a):
                        warnings.append(
                            f"{path.name}: alias '{alias}' of '{ent.name}' removed: reserved for '{owner_name}'"
                        )
                    ent.remove_alias(a)
        owner.add_alias(alias, trusted=True)
    return entities, policy


def _clean_of_alias(alias: str) -> str:
    alias = re.sub(r"\$\$([^$]*)\$\$", "", alias)  # $$Sponsor$$ parts of names
    return clean(alias).strip("/-").strip()


def _of_alias_ok(
    alias: str,
    club: openfootball.Club,
    policy: ClubPolicy,
    city_count: dict[tuple[str, str], int],
    national_names: set[str],
) -> bool:
    """Policy for alternative names that come from openfootball (ours are trusted)."""
    if alias in policy.reserved:
        return True  # handed to its owner (and removed from others) later
    if len(alias) < MIN_ALIAS_LEN and alias not in policy.short_ok:
        return False
    f = fold(alias)
    if f in policy.generic_words or f in policy.city_words:
        return False
    if fold(alias) in national_names:
        return False
    if club.city and f == fold(club.city) and city_count[(club.country, f)] > 1:
        return False  # a city with several clubs: the name means the city
    if not re.search(r"[^\W\d_]", alias):
        return False  # no letter at all
    return True


# --------------------------------------------------------------------------- other files

SIMPLE_KEYS = ("name", "aliases", "aliases_ci", "country", "priority")


def _simple_entity(etype: str, entry: Any, path: Path, what: str, extra_keys: tuple[str, ...] = ()) -> Entity:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise KBError(_where(path, f"{what}: must be a name or a mapping, got {entry!r}"))
    if isinstance(entry.get("name"), str):
        what = f"{what} '{entry['name']}'"
    _check_keys(entry, SIMPLE_KEYS + extra_keys, path, what)
    name = _name(entry, path, what)
    country = entry.get("country")
    if country is not None and not isinstance(country, str):
        raise KBError(_where(path, f"{what}: 'country' must be a string"))
    prio = _int(entry["priority"], path, what, "priority") if "priority" in entry else DEFAULT_PRIORITY[etype]
    ent = Entity(type=etype, name=name, country=clean(country) if country else None, priority=prio)
    for a in _str_list(entry.get("aliases"), path, what, "aliases"):
        ent.add_alias(a, trusted=True)
    ent.aliases_ci = _ci_list(entry, path, what)
    return ent


def _entry_list(data: Any, path: Path, key: str | None) -> list:
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            raise KBError(_where(path, f"top level must be a mapping with a '{key}' list"))
        data = data[key]
    if not isinstance(data, list):
        raise KBError(_where(path, f"'{key}' must be a list"))
    return data


def build_nationals(path: Path) -> list[Entity]:
    data = load_yaml(path)
    out = []
    for i, e in enumerate(_entry_list(data, path, "national_teams"), 1):
        ent = _simple_entity("NATIONAL", e, path, f"team #{i}")
        ent.country = ent.country or ent.name  # a youth team gives its country explicitly
        out.append(ent)
    return out


STADIUM_FIELD = re.compile(r",\s*@\s*([^,(#]+)")


def build_stadiums(clubs_dir: Path | None, taken: set[str]) -> list[Entity]:
    """Stadiums named on openfootball's club lines ("Barnsley FC, @ Oakwell, Barnsley"), so
    that "Oakwell" or "Old Trafford" is read as a place, never as a person. Names that are
    also a club's alias are left to the club."""
    if clubs_dir is None:
        return []
    names: set[str] = set()
    for path in sorted(Path(clubs_dir).rglob("*.clubs.txt")):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            if line.lstrip().startswith(("|", "#", "=")):
                continue
            match = STADIUM_FIELD.search(line.split("#", 1)[0])
            if match:
                name = openfootball.clean(match.group(1))
                if len(name) >= 4 and fold(name) not in taken:
                    names.add(name)
    return [Entity(type="STADIUM", name=name, priority=DEFAULT_PRIORITY["STADIUM"]) for name in sorted(names)]


def build_listed(kind: str, key: str, path: Path) -> list[Entity]:
    """Entities of one simple file: `federations.yml` (FEDERATION), `competitions.yml`
    (COMPETITION: never clubs, but recognised so that "Italia" in "Coppa Italia" or
    "Europa" in "Europa League" is not read as a team)."""
    if not path.exists():
        return []
    data = load_yaml(path)
    return [
        _simple_entity(kind, e, path, f"{key[:-1]} #{i}")
        for i, e in enumerate(_entry_list(data, path, key), 1)
    ]


def build_media(path: Path) -> list[Entity]:
    data = load_yaml(path)
    out = []
    for i, e in enumerate(_entry_list(data, path, "media"), 1):
        ent = _simple_entity("MEDIA", e, path, f"outlet #{i}", ("needs_context", "context_aliases"))
        what = f"outlet #{i} '{ent.name}'"
        if isinstance(e, dict):
            nc = e.get("needs_context", False)
            if not isinstance(nc, bool):
                raise KBError(_where(path, f"{what}: 'needs_context' must be true or false"))
            ctx = _str_list(e.get("context_aliases"), path, what, "context_aliases")
            for a in ctx:
                ent.add_alias(a, trusted=True)
        else:
            nc, ctx = False, []
        ent.extra["needs_context"] = nc
        ent.extra["context_aliases"] = sorted(set(ctx), key=lambda s: (s.casefold(), s))
        out.append(ent)
    return out


def guess_surname(name: str) -> str | None:
    tokens = name.split()
    if len(tokens) < 2:
        return None
    i = len(tokens) - 1
    while i - 1 >= 1 and tokens[i - 1].lower() in SURNAME_PARTICLES:
        i -= 1
    # Spanish/Portuguese "de la", "van der": include all particles before the last word
    return " ".join(tokens[i:])


def build_people(path: Path) -> list[Entity]:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise KBError(_where(path, "top level must be a mapping from role (COACH, PLAYER, ...) to a list"))
    out = []
    for role, entries in data.items():
        if role not in PERSON_TYPES:
            raise KBError(_where(path, f"unknown role '{role}' (expected one of {', '.join(PERSON_TYPES)})"))
        if not isinstance(entries, list):
            raise KBError(_where(path, f"{role}: must be a list"))
        for i, e in enumerate(entries, 1):
            ent = _simple_entity(role, e, path, f"{role} #{i}", ("surname",))
            surname = e.get("surname") if isinstance(e, dict) and "surname" in e else guess_surname(ent.name)
            if surname is not None and (not isinstance(surname, str) or not surname.strip()):
                raise KBError(_where(path, f"{role} #{i} '{ent.name}': 'surname' must be a non-empty string or null"))
            ent.extra["surname"] = clean(surname) if surname else None
            out.append(ent)
    return out


# --------------------------------------------------------------------------- assembly


def check_duplicates(entities: list[Entity], warnings: list[str]) -> None:
    """The same name twice in one hand-written list is an error; one person in two roles
    (or an outlet named like a person) is worth a warning."""
    seen: dict[tuple[str, str], Entity] = {}
    persons: dict[str, list[str]] = defaultdict(list)
    for ent in entities:
        if ent.type != "CLUB":
            key = (ent.type, fold(ent.name), ent.country or "")
            if key in seen:
                raise KBError(
                    f"{TYPE_FILES[ent.type]}: {ent.type} '{ent.name}' is listed twice "
                    "(same name and country, accents and case ignored)"
                )
            seen[key] = ent
        if ent.type in PERSON_TYPES:
            persons[fold(ent.name)].append(ent.type)
    for name, roles in sorted(persons.items()):
        if len(roles) > 1:
            warnings.append(f"people.yml: '{name}' has several roles: {', '.join(sorted(roles))}")


def finalise(entities: list[Entity], warnings: list[str]) -> list[dict]:
    check_duplicates(entities, warnings)
    # a club alias that is another club's display name goes to that club only
    # (when that club is at least as important)
    display: dict[str, list[Entity]] = defaultdict(list)
    for ent in entities:
        display[(ent.type, ent.name)].append(ent)
    for ent in entities:
        for a in list(ent.aliases):
            others = [o for o in display.get((ent.type, a), []) if o is not ent]
            if others and not ent.trusted.get(a) and max(o.priority for o in others) >= ent.priority:
                ent.remove_alias(a)

    # ids: type prefix + slug; collisions get the country, then a counter
    groups: dict[str, list[Entity]] = defaultdict(list)
    for ent in entities:
        groups[f"{ent.type.lower()}:{slugify(ent.name)}"].append(ent)
    for base, ents in groups.items():
        if len(ents) == 1:
            ents[0].id = base
            continue
        ents.sort(key=lambda e: (-e.priority, e.country or "", e.name))
        seen: set[str] = set()
        for i, ent in enumerate(ents):
            cand = base if i == 0 and ent.priority > ents[1].priority else f"{base}-{slugify(ent.country or 'x')}"
            n = 2
            root = cand
            while cand in seen:
                cand = f"{root}-{n}"
                n += 1
            seen.add(cand)
            ent.id = cand

    rows = []
    ids: set[str] = set()
    for ent in entities:
        if ent.id in ids:
            raise KBError(f"duplicate id {ent.id}")  # cannot happen; a guard
        ids.add(ent.id)
        aliases = [a for a in ent.aliases if a and a != ent.name]
        for form in [ent.name, *aliases]:
            aliases.extend(v for v in spelling_variants(form) if v != ent.name)
        folded = {fold(a) for a in aliases} | {fold(ent.name)}
        ci = set(ent.aliases_ci)
        for form in list(ci):
            ci |= {v for v in spelling_variants(form) if v == v.lower()}
        ci = sorted(ci)
        for a in ci:
            if fold(a) not in folded:
                aliases.append(a)
                folded.add(fold(a))
        aliases = sorted(set(aliases), key=lambda s: (s.casefold(), s))
        row: dict[str, Any] = {
            "id": ent.id,
            "type": ent.type,
            "name": ent.name,
            "aliases": aliases,
            "aliases_ci": ci,
            "country": ent.country,
            "priority": ent.priority,
        }
        for k in sorted(ent.extra):
            value = ent.extra[k]
            if k == "context_aliases":
                forms = set(value)
                for form in value:
                    forms |= spelling_variants(form)
                value = sorted(forms, key=lambda s: (s.casefold(), s))
            row[k] = value
        rows.append(row)
    rows.sort(key=lambda r: r["id"])
    return rows


def build(clubs_dir: Path | None, kb_dir: Path = KB_DIR, warnings: list[str] | None = None) -> list[dict]:
    """Build all entities; ``warnings`` collects non-fatal remarks."""
    warnings = warnings if warnings is not None else []
    kb_dir = Path(kb_dir)
    for required in ("clubs_extra.yml", "national_teams.yml", "media.yml", "people.yml"):
        if not (kb_dir / required).exists():
            raise KBError(f"{required}: file not found in {kb_dir}")
    if clubs_dir is not None and not Path(clubs_dir).is_dir():
        raise KBError(f"openfootball clubs folder not found: {clubs_dir}")
    nationals = build_nationals(kb_dir / "national_teams.yml")
    national_names = {fold(n.name) for n in nationals} | {fold(a) for n in nationals for a in n.aliases}
    entities: list[Entity] = []
    clubs, policy = build_clubs(Path(clubs_dir) if clubs_dir is not None else None,
                                kb_dir / "clubs_extra.yml", national_names, warnings)
    for ent in clubs + nationals:
        forms = [ent.name, *ent.aliases]
        ent.extra["context_aliases"] = sorted(
            {f for f in forms if fold(f) in policy.context_words}, key=lambda s: (s.casefold(), s)
        )
    entities += clubs
    entities += nationals
    entities += build_listed("FEDERATION", "federations", kb_dir / "federations.yml")
    entities += build_listed("COMPETITION", "competitions", kb_dir / "competitions.yml")
    taken = {fold(form) for e in entities for form in (e.name, *e.aliases)}
    entities += build_stadiums(Path(clubs_dir) if clubs_dir is not None else None, taken)
    entities += build_media(kb_dir / "media.yml")
    entities += build_people(kb_dir / "people.yml")
    return finalise(entities, warnings)


def dumps(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows)


def write(rows: list[dict], out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(dumps(rows), encoding="utf-8", newline="\n")
    tmp.replace(out)


def ambiguous_aliases(rows: list[dict]) -> dict[str, list[str]]:
    """Surface forms (name or alias, exact case) that point to more than one entity."""
    forms: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        for a in [r["name"], *r["aliases"]]:
            forms[a].add(r["id"])
    return {a: sorted(ids) for a, ids in sorted(forms.items()) if len(ids) > 1}


def summary(rows: list[dict]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["type"]] += 1
    return ", ".join(f"{t}={counts[t]}" for t in TYPES if counts[t]) + f", total={len(rows)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.kb.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--clubs", type=Path, default=DEFAULT_CLUBS,
                    help="openfootball/clubs data tree (default: ../shared/data/clubs from the repo root)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSONL (default: pipeline/kb/entities.jsonl)")
    ap.add_argument("--kb-dir", type=Path, default=KB_DIR, help="folder with our YAML files (default: pipeline/kb)")
    ap.add_argument("--strict", action="store_true", help="treat warnings as errors")
    ap.add_argument("--report", action="store_true", help="print aliases shared by several entities")
    args = ap.parse_args(argv)
    warnings: list[str] = []
    try:
        rows = build(args.clubs, args.kb_dir, warnings)
    except KBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if warnings and args.strict:
        print(f"error: {len(warnings)} warning(s) with --strict", file=sys.stderr)
        return 2
    write(rows, args.out)
    print(f"wrote {args.out} ({summary(rows)})")
    if args.report:
        for alias, ids in ambiguous_aliases(rows).items():
            print(f"  {alias!r}: {', '.join(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
