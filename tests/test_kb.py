"""Tests for the knowledge-base builder (pipeline/kb/build.py) and its generated file.

The fixture club tree and YAML files below are our own, written for these tests in the
openfootball/clubs text format.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pipeline.kb import build as kb
from pipeline.kb import openfootball

REPO = Path(__file__).resolve().parents[1]
KB_DIR = REPO / "pipeline" / "kb"
ENTITIES = KB_DIR / "entities.jsonl"
SHARED_CLUBS = REPO.parent / "shared" / "data" / "clubs"

# --------------------------------------------------------------------------- fixtures

IT_CLUBS = """\
==========================
=  Italy

## a comment line: Fake United, Nowhere
== Lombardia ==
AC Milan,       Milano      ## trailing comment
  | Milan | Associazione Calcio Milan
  | AC Mailand [de]
  | Milan Associazione [en]
ii) AC Milan Primavera
  | Milan Youth | Milan Primavera
FC Internazionale Milano, Milano
  | Inter | Internazionale
  | Inter Mailand [de]
 Viale della Liberazione 16 // 20124 Milano

Torino FC, 1906, @ Stadio Olimpico,   Torino (Santa Rita)
  | Torino | FC Turin [de]
  # old name before 1936
  | United
US Esempio (1901-1950),  Torino
  | Esempio
"""

ES_CLUBS = """\
= Spain

Real Madrid,   Madrid
  | Real M. | Real Madrid CF
Real Sociedad, San Sebastián
  | Real | Sociedad
CD Ficticio, Madrid
  | Ficticio
"""

CLUBS_EXTRA = """\
display_rule:
  countries: [Italy, Spain]
  prefixes: [FC, US, CD, SS]
  suffixes: [FC, Calcio]
short_ok: []
generic_words: [United, Sociedad]
city_words: [Madrid]
reserved_aliases:
  Real: Real Madrid
context_words: [Diavolo]
groups:
- group: giants
  country: Italy
  priority: 4
  clubs:
  - of: AC Milan
    name: AC Milan
    aliases: [Rossoneri, Diavolo]
    aliases_ci: [rossoneri]
  - of: FC Internazionale Milano
    name: Inter
    aliases: [Nerazzurri]
- group: Spain
  country: Spain
  priority: 4
  clubs:
  - Real Madrid
- group: ours
  country: Italy
  priority: 1
  clubs:
  - {name: Nuova Squadra, aliases: [Nuovi]}
"""

NATIONALS = """\
national_teams:
- name: Italy
  aliases: [Italia, Azzurri]
"""

MEDIA = """\
media:
- name: Gazzetta Finta
  country: Italy
  aliases: [la Finta]
- name: Sport
  country: Spain
  needs_context: true
"""

PEOPLE = """\
COACH:
- Massimiliano Allegri
- {name: Daniele De Rossi}
- {name: Xavi Hernández, aliases: [Xavi], surname: Xavi}
JOURNALIST:
- Fabrizio Romano
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    clubs = tmp_path / "clubs"
    write(clubs / "europe" / "italy" / "it.clubs.txt", IT_CLUBS)
    write(clubs / "europe" / "spain" / "es.clubs.txt", ES_CLUBS)
    # files that are not club lists must be ignored
    write(clubs / "europe" / "italy" / "it.clubs.props.txt", "Key, Web\nAC Milan, www.example.org\n")
    write(clubs / "europe" / "italy" / "it.stadiums.txt", "Stadio Fittizio, Milano\n")
    write(clubs / "europe" / "clubs.wiki.txt", "= Italy\nWiki Only Club\n")
    write(clubs / "0-world" / "it.txt", "= Italy (it)\nLombardia | Lombardy\n")
    kbdir = tmp_path / "kb"
    write(kbdir / "clubs_extra.yml", CLUBS_EXTRA)
    write(kbdir / "national_teams.yml", NATIONALS)
    write(kbdir / "media.yml", MEDIA)
    write(kbdir / "people.yml", PEOPLE)
    return clubs, kbdir


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


# --------------------------------------------------------------------------- parsing


def test_parse_openfootball_tree(tree):
    clubs_dir, _ = tree
    clubs = {(c.country, c.name): c for c in openfootball.read_tree(clubs_dir)}
    assert set(clubs) == {
        ("Italy", "AC Milan"), ("Italy", "FC Internazionale Milano"), ("Italy", "Torino FC"),
        ("Italy", "US Esempio"), ("Spain", "Real Madrid"), ("Spain", "Real Sociedad"),
        ("Spain", "CD Ficticio"),
    }
    milan = clubs[("Italy", "AC Milan")]
    assert milan.city == "Milano"
    # [de] dropped, [en] kept without its tag, reserve team and its names skipped
    assert milan.aliases == ["Milan", "Associazione Calcio Milan", "Milan Associazione"]
    torino = clubs[("Italy", "Torino FC")]
    assert torino.city == "Torino"
    assert "FC Turin" not in torino.aliases
    assert not any("old name" in a for a in torino.aliases)
    inter = clubs[("Italy", "FC Internazionale Milano")]
    assert not any("//" in a or "Viale" in a for a in inter.aliases)
    assert clubs[("Italy", "US Esempio")].defunct
    assert not milan.defunct


def test_build_display_names_nicknames_and_policy(tree):
    clubs_dir, kbdir = tree
    rows = kb.build(clubs_dir, kbdir)
    names = by_name(rows)
    # YAML display-name override, the openfootball name kept as an alias
    assert "Inter" in names and "FC Internazionale Milano" in names["Inter"]["aliases"]
    # generic rule strips "FC"
    assert "Torino" in names and "Torino FC" in names["Torino"]["aliases"]
    # nickname merge
    milan = names["AC Milan"]
    assert {"Rossoneri", "Diavolo", "Milan"} <= set(milan["aliases"])
    assert milan["aliases_ci"] == ["rossoneri"]
    assert milan["priority"] == 4 and milan["country"] == "Italy"
    # generic words are not aliases; reserved alias goes to its owner only
    assert "United" not in names["Torino"]["aliases"]
    assert "Sociedad" not in names["Real Sociedad"]["aliases"]
    assert "Real" in names["Real Madrid"]["aliases"]
    assert "Real" not in names["Real Sociedad"]["aliases"]
    # defunct club gets priority 0, other openfootball clubs 1
    assert names["Esempio"]["priority"] == 0 and names["Esempio"]["defunct"] is True
    assert names["Ficticio"]["priority"] == 1
    # a club only we know
    assert names["Nuova Squadra"]["source"] == "ours" and "Nuovi" in names["Nuova Squadra"]["aliases"]
    # other entity types
    assert names["Italy"]["type"] == "NATIONAL" and "Azzurri" in names["Italy"]["aliases"]
    assert names["Sport"]["needs_context"] is True
    assert names["Daniele De Rossi"]["surname"] == "De Rossi"
    assert names["Xavi Hernández"]["surname"] == "Xavi"
    assert "Xavi Hernandez" in names["Xavi Hernández"]["aliases"]  # accent-free variant
    assert names["Fabrizio Romano"]["type"] == "JOURNALIST"
    assert names["Italy"]["context_aliases"] == [] and names["AC Milan"]["context_aliases"] == ["Diavolo"]
    for r in rows:
        assert "" not in r["aliases"]
        assert r["name"] not in r["aliases"]


def test_ids_are_stable(tree):
    clubs_dir, kbdir = tree
    ids = {r["name"]: r["id"] for r in kb.build(clubs_dir, kbdir)}
    assert ids["AC Milan"] == "club:ac-milan"
    assert ids["Inter"] == "club:inter"
    assert ids["Massimiliano Allegri"] == "coach:massimiliano-allegri"
    assert ids["Italy"] == "national:italy"
    # adding another country's clubs does not move existing ids
    write(clubs_dir / "europe" / "england" / "eng.clubs.txt", "= England\n\nArsenal FC, London\n  | Arsenal\n")
    ids2 = {r["name"]: r["id"] for r in kb.build(clubs_dir, kbdir)}
    assert all(ids2[name] == i for name, i in ids.items())
    assert len(set(ids2.values())) == len(ids2)


def test_id_collision_gets_country(tree):
    clubs_dir, kbdir = tree
    write(clubs_dir / "europe" / "portugal" / "pt.clubs.txt", "= Portugal\n\nInter, Lisboa\n")
    rows = kb.build(clubs_dir, kbdir)
    ids = sorted(r["id"] for r in rows if r["name"] == "Inter")
    # the Italian Inter has the higher priority and keeps its id
    assert ids == ["club:inter", "club:inter-portugal"]


def test_build_is_deterministic(tree, tmp_path):
    clubs_dir, kbdir = tree
    out1, out2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert kb.main(["--clubs", str(clubs_dir), "--kb-dir", str(kbdir), "--out", str(out1)]) == 0
    assert kb.main(["--clubs", str(clubs_dir), "--kb-dir", str(kbdir), "--out", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    lines = out1.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    "filename, text, expected",
    [
        ("people.yml", "COACH:\n- {name: ''}\n", ["people.yml", "COACH #1", "name"]),
        ("people.yml", "MANAGER:\n- Someone\n", ["people.yml", "MANAGER"]),
        ("media.yml", "media:\n- name: X\n  aliases: 5\n", ["media.yml", "outlet #1 'X'", "aliases"]),
        ("clubs_extra.yml", CLUBS_EXTRA.replace("    aliases: [Nerazzurri]", "    aliasses: [Nerazzurri]"),
         ["clubs_extra.yml", "club 'Inter'", "aliasses"]),
        ("clubs_extra.yml", CLUBS_EXTRA.replace("aliases_ci: [rossoneri]", "aliases_ci: [Rossoneri]"),
         ["clubs_extra.yml", "club 'AC Milan'", "lowercase"]),
        ("national_teams.yml", "national_teams:\n- name: Italy\n  aliases: [Italia\n", ["national_teams.yml", "YAML"]),
        ("people.yml", "COACH:\n- Ivan Juric\n- Ivan Jurić\n", ["people.yml", "COACH 'Ivan Jurić'", "twice"]),
    ],
)
def test_malformed_yaml_is_a_clear_error(tree, tmp_path, capsys, filename, text, expected):
    clubs_dir, kbdir = tree
    write(kbdir / filename, text)
    out = tmp_path / "never.jsonl"
    status = kb.main(["--clubs", str(clubs_dir), "--kb-dir", str(kbdir), "--out", str(out)])
    err = capsys.readouterr().err
    assert status != 0
    assert not out.exists()
    for fragment in expected:
        assert fragment in err


def test_unknown_openfootball_name_warns_and_strict_fails(tree, tmp_path, capsys):
    clubs_dir, kbdir = tree
    write(kbdir / "clubs_extra.yml", CLUBS_EXTRA.replace("  - Real Madrid\n", "  - Real Madrid\n  - Atletico Fantasma\n"))
    args = ["--clubs", str(clubs_dir), "--kb-dir", str(kbdir), "--out", str(tmp_path / "o.jsonl")]
    assert kb.main(args) == 0
    assert "Atletico Fantasma" in capsys.readouterr().err
    assert kb.main(args + ["--strict"]) != 0


# --------------------------------------------------------------------------- the generated file


@pytest.fixture(scope="module")
def real_rows() -> list[dict]:
    assert ENTITIES.exists(), "run: python -m pipeline.kb.build"
    return [json.loads(line) for line in ENTITIES.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def surface(real_rows) -> dict[str, list[dict]]:
    index: dict[str, list[dict]] = {}
    for r in real_rows:
        for form in [r["name"], *r["aliases"]]:
            index.setdefault(form, []).append(r)
    return index


def owners(surface, form: str, etype: str = "CLUB") -> set[str]:
    return {r["name"] for r in surface.get(form, []) if r["type"] == etype}


@pytest.mark.parametrize(
    "form, club",
    [
        ("Rossoneri", "AC Milan"),
        ("Milan", "AC Milan"),
        ("Bianconeri", "Juventus"),
        ("Old Lady", "Juventus"),
        ("Vecchia Signora", "Juventus"),
        ("Los Blancos", "Real Madrid"),
        ("Merengues", "Real Madrid"),
        ("Spurs", "Tottenham Hotspur"),
        ("Bayern Monaco", "Bayern Munich"),
        ("Real", "Real Madrid"),
        ("Sporting", "Sporting CP"),
        ("Inter", "Inter"),
        ("Roma", "AS Roma"),
    ],
)
def test_real_aliases(surface, form, club):
    assert club in owners(surface, form)
    if form in {"Rossoneri", "Old Lady", "Vecchia Signora", "Los Blancos", "Merengues", "Spurs",
                "Bayern Monaco", "Real", "Sporting", "Inter", "Roma", "Milan"}:
        assert owners(surface, form) == {club}


def test_real_bianconeri_prefers_juventus(surface):
    clubs = [r for r in surface["Bianconeri"] if r["type"] == "CLUB"]
    assert max(clubs, key=lambda r: r["priority"])["name"] == "Juventus"


def test_real_azzurri_is_italy_and_napoli(surface):
    assert owners(surface, "Azzurri", "NATIONAL") == {"Italy"}
    assert "Napoli" in owners(surface, "Azzurri", "CLUB")


def test_real_file_is_well_formed(real_rows):
    assert ENTITIES.stat().st_size < 3_000_000
    ids = [r["id"] for r in real_rows]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    for r in real_rows:
        assert r["type"] in kb.TYPES
        assert r["id"].startswith(r["type"].lower() + ":")
        assert r["name"] and r["name"].strip() == r["name"]
        assert all(isinstance(a, str) and a.strip() for a in r["aliases"]), r["id"]
        assert all(a and a == a.lower() for a in r["aliases_ci"]), r["id"]
        assert isinstance(r["priority"], int)
    types = {r["type"] for r in real_rows}
    assert types == set(kb.TYPES)


def test_real_ci_aliases_are_lowercase_club_words(real_rows):
    ci = {a: r["name"] for r in real_rows for a in r["aliases_ci"]}
    for word, club in [("rossoneri", "AC Milan"), ("nerazzurri", "Inter"), ("bianconeri", "Juventus"),
                       ("giallorossi", "AS Roma"), ("biancocelesti", "Lazio"), ("partenopei", "Napoli"),
                       ("blucerchiati", "Sampdoria")]:
        assert ci[word] == club


@pytest.mark.skipif(not SHARED_CLUBS.is_dir(), reason="openfootball data not available")
def test_committed_file_is_up_to_date(tmp_path):
    out = tmp_path / "entities.jsonl"
    assert kb.main(["--out", str(out), "--strict"]) == 0
    assert out.read_bytes() == ENTITIES.read_bytes(), "rebuild: python -m pipeline.kb.build"


@pytest.mark.parametrize("form, kind", [("Old Trafford", "STADIUM"), ("Anfield", "STADIUM"),
                                        ("Coppa Italia", "COMPETITION"), ("Champions League", "COMPETITION")])
def test_real_places_and_competitions_are_not_clubs(surface, form, kind):
    assert {r["type"] for r in surface[form]} == {kind}
