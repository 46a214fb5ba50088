"""report.html in a real browser: headless Chromium renders the rows, applies a filter from
the address and takes a screenshot. Skipped when no Chromium is installed (.ci/run installs
Debian's `chromium`)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from html import unescape

import pytest

from pipeline.report import render_report
from pipeline.summary import summarise

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = os.environ.get("CHROMIUM") or next((p for p in map(shutil.which, BROWSERS) if p), None)
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no chromium binary found")

TEXTS = {
    "en/spurs": "Tottenham Hotspur have sacked Ange Postecoglou. According to Sky Sports, Brentford boss "
                "Thomas Frank is set to replace him.",
    "en/chelsea": "Chelsea have sacked Enzo Maresca. Chelsea are reportedly interested in Oliver Glasner.",
    "it/toro": "Il Torino ha esonerato Paolo Vanoli. Secondo la Gazzetta, il Torino potrebbe puntare su Paolo "
               "Zanetti.",
    "en/hostile": "Supporters posted <script>document.title='pwned'</script> next to a photo of Thiago Motta.",
}
# (article, date, sentence index, subject, subject type, relation, object, object type, status)
FACTS = [
    ("en/spurs", "2025-06-12", 0, "Ange Postecoglou", "COACH", "sacked_by", "Tottenham Hotspur", "CLUB", "fact"),
    ("en/spurs", "2025-06-12", 1, "Thomas Frank", "COACH", "joins", "Tottenham Hotspur", "CLUB", "rumour"),
    ("en/spurs", "2025-06-12", 1, "Thomas Frank", "COACH", "replaces", "Ange Postecoglou", "COACH", "rumour"),
    ("en/chelsea", "2026-01-01", 0, "Enzo Maresca", "COACH", "sacked_by", "Chelsea", "CLUB", "fact"),
    ("en/chelsea", "2026-01-01", 1, "Oliver Glasner", "COACH", "linked_to", "Chelsea", "CLUB", "rumour"),
    ("it/toro", "2025-05", 0, "Paolo Vanoli", "COACH", "sacked_by", "Torino", "CLUB", "fact"),
    ("it/toro", "2025-05", 1, "Paolo Zanetti", "COACH", "linked_to", "Torino", "CLUB", "rumour"),
    ("en/hostile", "2025-07-01", 0, "Thiago Motta", "COACH", "linked_to", "Juventus", "CLUB", "rumour"),
]


def sentence(text: str, index: int) -> tuple[int, int]:
    bounds = [0] + [m.end() + 1 for m in re.finditer(r"\.(?= )", text)] + [len(text)]
    return bounds[index], (bounds[index + 1] - 1 if index + 1 < len(bounds) - 1 else len(text))


def triples() -> list[dict]:
    rows = []
    for article_id, date, index, subject, s_type, relation, obj, o_type, status in FACTS:
        text = TEXTS[article_id]
        start, end = sentence(text, index)
        rows.append({"article_id": article_id, "article_date": date, "language": article_id[:2],
                     "subject": subject, "subject_type": s_type, "relation": relation, "object": obj,
                     "object_type": o_type, "value": "", "status": status, "source": "", "confidence": "0.80",
                     "evidence": text[start:end], "start": start, "end": end, "rule": "test"})
    return sorted(rows, key=lambda r: (r["article_id"], r["start"], r["relation"]))


def entities() -> list[dict]:
    found = []
    names = {"Tottenham Hotspur": "CLUB", "Chelsea": "CLUB", "Torino": "CLUB", "Brentford": "CLUB",
             "Sky Sports": "MEDIA", "Ange Postecoglou": "COACH", "Thomas Frank": "COACH", "Enzo Maresca": "COACH",
             "Oliver Glasner": "COACH", "Paolo Vanoli": "COACH", "Paolo Zanetti": "COACH", "Thiago Motta": "COACH"}
    for article_id, text in TEXTS.items():
        for name, kind in names.items():
            for match in re.finditer(re.escape(name), text):
                found.append({"article_id": article_id, "text": name, "canonical": name, "type": kind,
                              "entity_id": name.lower(), "start": match.start(), "end": match.end(),
                              "sentence": 0, "component": "kb ruler"})
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    rows = triples()
    manifest = [{"article_id": a, "path": f"in/{a}.txt", "date": "", "language": a[:2], "status": "ok"}
                for a in TEXTS]
    path = folder / "report.html"
    path.write_text(render_report(manifest, TEXTS, entities(), rows, summarise(rows)), encoding="utf-8")
    return path, rows


def chromium(tmp_path, *args: str) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def visible_rows(dom: str) -> list[dict]:
    """The data attributes of the rows of the triples table not hidden by the filter."""
    table = re.search(r'<table[^>]*id="triples-table".*?</table>', dom, re.S).group(0)
    body = table.split("<tbody>", 1)[1]
    rows = []
    for tag in re.findall(r"<tr\b[^>]*>", body):
        attrs = {k: unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}
        if not re.search(r"\shidden(=|\s|>)", tag):
            rows.append(attrs)
    return rows


def test_rows_render_and_scripts_in_articles_stay_text(report, tmp_path):
    path, rows = report
    dom = chromium(tmp_path, "--dump-dom", path.as_uri())
    shown = visible_rows(dom)
    assert len(shown) == len(rows)
    assert [r["data-relation"] for r in shown] == [r["relation"] for r in rows]
    assert f"{len(rows)} of {len(rows)} triples shown" in dom  # the page's script ran (CSP allowed it)
    assert "<title>pwned</title>" not in dom and dom.count("<script") == 1
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom


@pytest.mark.parametrize("address", ["relation=sacked_by", "status=rumour&club=Torino", "coach=Ange+Postecoglou",
                                     "language=it"])
def test_a_filter_from_the_address_hides_the_other_rows(report, tmp_path, address):
    path, rows = report
    dom = chromium(tmp_path, "--dump-dom", f"{path.as_uri()}#{address}")
    wanted = dict(pair.split("=") for pair in address.replace("+", " ").split("&"))

    def values(row):
        ends = (("subject", "subject_type"), ("object", "object_type"))
        return {"relation": [row["relation"]], "status": [row["status"]], "language": [row["language"]],
                "club": [row[k] for k, t in ends if row[t] == "CLUB"],
                "coach": [row[k] for k, t in ends if row[t] == "COACH"]}

    expected = [values(r) for r in rows if all(v in values(r)[k] for k, v in wanted.items())]
    assert 0 < len(expected) < len(rows)
    shown = [{k: r[f"data-{k}"].split("|") if r[f"data-{k}"] else [] for k in expected[0]}
             for r in visible_rows(dom)]
    assert shown == expected
    assert f"{len(expected)} of {len(rows)} triples shown" in dom


def test_screenshot(report, tmp_path):
    path, _ = report
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,1600", "--hide-scrollbars", f"--screenshot={shot}",
             f"{path.as_uri()}#relation=sacked_by")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
