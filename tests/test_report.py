"""report.html: escaping, entity highlights, evidence links, filters' data, chart, determinism;
and the whole write stage through the CLI (per-article CSVs, terminal output)."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.cli import main, print_summary, progress_bar
from pipeline.report import render_report, render_text
from pipeline.summary import summarise
from pipeline.write import read_csv

VOID = {"meta", "br", "img", "input", "link", "hr", "source", "wbr", "col", "area", "base", "embed", "param", "track"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag=None):
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def find(self, **attrs):
        return next((n for n in self.iter() if all(n.attrs.get(k) == v for k, v in attrs.items())), None)


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.node = Node("#root", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.node)
        self.node.children.append(node)
        if tag not in VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.node = node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


SPURS = ("Tottenham Hotspur have sacked Ange Postecoglou after a 17th-place finish.\n\n"
         "According to Sky Sports, Brentford boss Thomas Frank is set to replace him.")
TORINO = "Il Torino ha esonerato Paolo Vanoli. Secondo la Gazzetta, Cairo potrebbe puntare su Paolo Zanetti."
HOSTILE = ('Fans wrote <script>alert(1)</script> and <img src=x onerror="alert(2)"> on the Juventus forum & '
           'called Thiago Motta "a <b>genius</b>".')


def span(text: str, words: str) -> tuple[int, int]:
    start = text.index(words)
    return start, start + len(words)


def ent(article_id, text, words, canonical, kind, component="kb ruler"):
    start, end = span(text, words)
    return {"article_id": article_id, "text": words, "canonical": canonical, "type": kind,
            "entity_id": f"{kind.lower()}:{canonical.lower().replace(' ', '-')}", "start": str(start),
            "end": str(end), "sentence": "0", "component": component}


def triple(article_id, date, lang, text, sentence, subject, s_type, relation, obj, o_type, status, source=""):
    start, end = span(text, sentence)
    return {"article_id": article_id, "article_date": date, "language": lang, "subject": subject,
            "subject_type": s_type, "relation": relation, "object": obj, "object_type": o_type, "value": "",
            "status": status, "source": source, "confidence": "0.75", "evidence": sentence, "start": start,
            "end": end, "rule": f"{lang}.{relation}.test"}


def sample():
    """(manifest, texts, entities, triples) for three articles and one skipped file."""
    texts = {"en/spurs": SPURS, "it/toro": TORINO, "en/<b>hostile</b>": HOSTILE}
    first, second = SPURS.split("\n\n")
    triples = [
        triple("en/spurs", "2025-06-12", "en", SPURS, first, "Ange Postecoglou", "COACH", "sacked_by",
               "Tottenham Hotspur", "CLUB", "fact"),
        triple("en/spurs", "2025-06-12", "en", SPURS, second, "Thomas Frank", "COACH", "replaces",
               "Ange Postecoglou", "COACH", "rumour", "Sky Sports"),
        triple("en/spurs", "2025-06-12", "en", SPURS, second, "Thomas Frank", "COACH", "joins",
               "Tottenham Hotspur", "CLUB", "rumour", "Sky Sports"),
        triple("it/toro", "2025-05", "it", TORINO, "Il Torino ha esonerato Paolo Vanoli.", "Paolo Vanoli", "COACH",
               "sacked_by", "Torino", "CLUB", "fact"),
        triple("it/toro", "2025-05", "it", TORINO, TORINO[37:], "Paolo Zanetti", "COACH", "linked_to", "Torino",
               "CLUB", "rumour", "La Gazzetta dello Sport"),
        triple("it/toro", "2025-05", "it", TORINO, TORINO[37:], "Torino", "CLUB", "transfer_target",
               "Paolo Zanetti", "PLAYER", "rumour"),
        triple("en/<b>hostile</b>", "2025-07-01", "en", HOSTILE, HOSTILE, "Thiago Motta", "COACH", "linked_to",
               "Juventus", "CLUB", "rumour", '"><script>alert(3)</script>'),
    ]
    entities = [
        ent("en/spurs", SPURS, "Tottenham Hotspur", "Tottenham Hotspur", "CLUB"),
        ent("en/spurs", SPURS, "Ange Postecoglou", "Ange Postecoglou", "COACH"),
        ent("en/spurs", SPURS, "Sky Sports", "Sky Sports", "MEDIA"),
        ent("en/spurs", SPURS, "Brentford", "Brentford", "CLUB"),
        ent("en/spurs", SPURS, "Thomas Frank", "Thomas Frank", "COACH"),
        ent("en/spurs", SPURS, "him", "Ange Postecoglou", "COACH", "coreference"),
        ent("it/toro", TORINO, "Torino", "Torino", "CLUB"),
        ent("it/toro", TORINO, "Paolo Vanoli", "Paolo Vanoli", "COACH"),
        ent("it/toro", TORINO, "Cairo", "Urbano Cairo", "PERSON", "surname"),
        ent("en/<b>hostile</b>", HOSTILE, "Juventus", '"><img src=x onerror=alert(4)>', "CLUB"),
        ent("en/<b>hostile</b>", HOSTILE, "Thiago Motta", "Thiago Motta", "COACH"),
    ]
    manifest = [{"article_id": a, "path": f"in/{a}.txt", "date": d, "language": a[:2], "language_prob": "0.99",
                 "status": "ok", "n_entities": "0", "n_triples": "0", "sha256": "0" * 64}
                for a, d in [("en/spurs", "2025-06-12"), ("it/toro", "2025-05"), ("en/<b>hostile</b>", "2025-07-01")]]
    manifest.append({"article_id": "other/madrid", "path": "in/other/madrid.txt", "date": "", "language": "es",
                     "language_prob": "0.99", "status": "skipped: unsupported language es", "n_entities": "0",
                     "n_triples": "0", "sha256": "1" * 64})
    return manifest, texts, entities, triples


def render(**changes):
    manifest, texts, entities, triples = sample()
    args = {"manifest": manifest, "texts": texts, "entities": entities, "triples": triples,
            "summary": summarise(triples)}
    args.update(changes)
    return render_report(**args)


def article_section(tree: Node, article_id: str) -> Node:
    return next(s for s in tree.iter("section") if "article" in s.attrs.get("class", "")
                and next(s.iter("h3")).text() == article_id)


def test_article_text_is_escaped_and_shown_as_text():
    html = render()
    assert html.count("<script") == 1  # ours, at the end of the page
    assert "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tree = parse(html)
    assert len(list(tree.iter("script"))) == 1 and not list(tree.iter("img")) and not list(tree.iter("b"))
    text_div = article_section(tree, "en/<b>hostile</b>").find(**{"class": "text"})
    assert text_div.text() == HOSTILE  # the hostile markup is there, as text
    marks = {m.text(): m.attrs for m in text_div.iter("mark")}
    assert '"><img src=x onerror=alert(4)>' in marks["Juventus"]["title"]  # an attribute value, not markup


def test_the_only_script_and_style_are_pinned_by_the_content_security_policy():
    html = render()
    tree = parse(html)
    policy = next(m for m in tree.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy")
    content = policy.attrs["content"]
    assert "default-src 'none'" in content and "unsafe-inline" not in content
    for tag in ("script", "style"):
        body = next(tree.iter(tag)).text()
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        assert f"'sha256-{digest}'" in content
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from the network


def test_every_article_text_is_shown_whole_with_entities_marked():
    manifest, texts, entities, triples = sample()
    tree = parse(render())
    for article_id, text in texts.items():
        div = article_section(tree, article_id).find(**{"class": "text"})
        assert div.text() == text
        marks = [(m.text(), m.attrs["class"]) for m in div.iter("mark")]
        expected = [(e["text"], f"ent t-{e['type']}") for e in entities if e["article_id"] == article_id]
        assert sorted(marks) == sorted(expected)
    labels = [m.attrs.get("data-label") for m in parse(render()).iter("mark") if m.attrs.get("data-label")]
    assert set(labels) <= {"CLUB", "COACH", "MEDIA", "PERSON"}
    assert "skipped: unsupported language es" in article_section(tree, "other/madrid").text()


def test_entities_that_do_not_fit_the_text_are_left_out():
    manifest, texts, entities, triples = sample()
    stale = dict(entities[0], start="5000", end="5017")
    wrong_words = dict(entities[1], text="Mauricio Pochettino")
    tree = parse(render(entities=[stale, wrong_words]))
    assert not list(article_section(tree, "en/spurs").iter("mark"))


def test_each_triple_links_to_its_evidence_in_the_text():
    html = render()
    tree = parse(html)
    for section_id in ("triples-table",):
        for link in tree.find(id=section_id).iter("a"):
            href = link.attrs["href"]
            if not href.startswith("#ev-"):
                continue
            anchor = tree.find(id=href[1:])
            assert anchor is not None and anchor.attrs["class"] == "anchor"
            covered = "".join(s.text() for s in tree.iter("span") if href[1:] in s.attrs.get("data-ev", "").split())
            assert covered == link.text()  # the spans the link highlights are exactly its evidence
    _, _, _, triples = sample()
    links = [a for a in tree.find(id="triples-table").iter("a") if a.attrs["href"].startswith("#ev-")]
    assert len(links) == len(triples)


def test_rendered_text_is_identical_to_the_input_for_overlapping_evidence():
    text = "Juventus have sacked Igor Tudor. Luciano Spalletti takes over at Juventus."
    ents = [ent("x", text, "Igor Tudor", "Igor Tudor", "COACH"), ent("x", text, "Luciano Spalletti", "x", "COACH")]
    evidences = [(0, len(text)), (0, 32), (33, len(text)), (20, 40)]  # nested and overlapping
    div = parse(f"<div>{render_text(text, ents, evidences, 1)}</div>")
    assert div.text() == text
    for start, end in evidences:
        pieces = "".join(s.text() for s in div.iter("span") if f"ev-1-{start}-{end}" in s.attrs.get("data-ev", "").split())
        assert pieces == text[start:end]


def test_an_entity_cut_by_an_evidence_boundary_keeps_its_mark_and_one_label():
    text = "Juventus have sacked Igor Tudor. Luciano Spalletti takes over at Juventus."
    ents = [ent("x", text, "Luciano Spalletti", "Luciano Spalletti", "COACH")]
    spalletti = text.index("Spalletti")
    evidences = [(spalletti, len(text)), (spalletti, len(text)), (0, 9999), (5, 5)]  # a repeat, two that do not fit
    div = parse(f"<div>{render_text(text, ents, evidences, 3)}</div>")
    marks = list(div.iter("mark"))
    assert [m.text() for m in marks] == ["Luciano ", "Spalletti"]
    assert [m.attrs.get("data-label") for m in marks] == [None, "COACH"]  # the label once, at the end
    assert {m.attrs["title"] for m in marks} == {"Luciano Spalletti · COACH · coach:luciano-spalletti · kb ruler"}
    anchors = [s.attrs["id"] for s in div.iter("span") if s.attrs.get("class") == "anchor"]
    assert anchors == [f"ev-3-{spalletti}-{len(text)}"]
    covered = "".join(s.text() for s in div.iter("span") if s.attrs.get("data-ev") == anchors[0])
    assert covered == text[spalletti:] and div.text() == text


def test_triple_rows_carry_the_filter_values():
    _, _, _, triples = sample()
    rows = list(parse(render()).find(id="triples-table").iter("tr"))[1:]
    assert len(rows) == len(triples)
    for row, source in zip(rows, triples):
        assert row.attrs["data-relation"] == source["relation"] and row.attrs["data-status"] == source["status"]
        assert row.attrs["data-language"] == source["language"]
        clubs = [source[k] for k, t in (("subject", "subject_type"), ("object", "object_type")) if source[t] == "CLUB"]
        coaches = [source[k] for k, t in (("subject", "subject_type"), ("object", "object_type")) if source[t] == "COACH"]
        assert row.attrs["data-club"].split("|") == (clubs or [""])
        assert row.attrs["data-coach"].split("|") == (coaches or [""])
    tree = parse(render())
    clubs = [o.attrs["value"] for o in tree.find(id="f-club").iter("option")]
    assert clubs == ["", "Juventus", "Torino", "Tottenham Hotspur"]


def test_chart_counts_rumours_per_club_and_month():
    _, _, _, triples = sample()
    extra = [dict(triples[4], article_id="it/toro2", article_date="2025-05-20"),
             dict(triples[4], article_id="it/toro3", article_date="2025-08-02"),
             dict(triples[4], article_id="it/undated", article_date=""),
             dict(triples[3], article_id="it/fact", article_date="2025-05-21")]
    rumours = triples + extra
    tree = parse(render(triples=rumours, summary=summarise(rumours)))
    chart = tree.find(id="rumour-chart")
    dots = {(c.attrs["data-club"], c.attrs["data-period"]): int(c.attrs["data-count"]) for c in chart.iter("circle")}
    expected: dict = {}
    for row in rumours:
        if row["status"] == "rumour" and row["article_date"]:
            for club in [row[k] for k, t in (("subject", "subject_type"), ("object", "object_type"))
                         if row[t] == "CLUB"]:
                key = (club, row["article_date"][:7])
                expected[key] = expected.get(key, 0) + 1
    assert dots == expected
    assert dots[("Torino", "2025-05")] == 3 and dots[("Torino", "2025-08")] == 1
    months = [t.text() for t in chart.iter("text") if re.fullmatch(r"\d{4}-\d{2}", t.text())]
    assert months == ["2025-05", "2025-06", "2025-07", "2025-08"]  # a continuous time axis


def test_summary_table_matches_summary_rows():
    _, _, _, triples = sample()
    summary = summarise(triples)
    rows = list(parse(render()).find(id="summary-table").iter("tr"))[1:]
    assert [[td.text() for td in r.iter("td")][:3] for r in rows] == [
        [s["subject"], s["relation"], s["object"]] for s in summary]


def test_same_input_same_bytes():
    assert render() == render()
    manifest, texts, entities, triples = sample()
    shuffled = render(entities=list(reversed(entities)), manifest=list(reversed(manifest)))
    assert shuffled == render()


# ---------------------------------------------------------------------------------------
# The write stage through the CLI on articles of our own (blank models: rules and KB only).

ARTICLES = {
    "en/spurs.txt": " date 2025-06-12 Tottenham Hotspur have sacked head coach Ange Postecoglou. "
                    "According to Sky Sports, Brentford boss Thomas Frank is set to replace him.\n",
    "it/toro.txt": "date 2025-05\nIl Torino ha esonerato Paolo Vanoli. Secondo la Gazzetta dello Sport, "
                   "il presidente Urbano Cairo potrebbe puntare su Paolo Zanetti.\n",
    "en/hostile.txt": " date 2025-07-01 Juventus fans posted <script>alert(1)</script> after Juventus sacked "
                      "Thiago Motta.\n",
    "es.txt": "El Real Madrid ha despedido a su entrenador tras la derrota en el clásico y el club busca ya "
              "un sustituto para el banquillo, según informa la prensa deportiva.",
}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """(input folder, OUT, stdout, stderr) of one extract run with the tests' small KB."""
    root = tmp_path_factory.mktemp("in")
    for name, text in ARTICLES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALCIO_KB", str(Path(__file__).parent / "fixtures" / "kb.jsonl"))
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["extract", "--in", str(root), "--out", str(out), "--per-article",
                         "--model-en", "blank", "--model-it", "blank"])
    assert code == 0
    return root, out, stdout.getvalue(), stderr.getvalue()


def test_cli_writes_report_summary_and_per_article_files(cli_run):
    _, out, _, _ = cli_run
    triples = read_csv(out / "triples.csv")
    assert triples, "the articles should yield triples"
    for article_id in ("en/spurs", "it/toro", "en/hostile"):
        assert read_csv(out / "articles" / f"{article_id}.csv") == [r for r in triples if r["article_id"] == article_id]
    assert not (out / "articles" / "es.csv").exists()
    assert read_csv(out / "summary.csv") == [{k: str(v) for k, v in r.items()} for r in summarise(triples)]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tree = parse(html)
    rows = list(tree.find(id="triples-table").iter("tr"))[1:]
    shown = [tuple(td.text() for td in r.iter("td"))[3:6] for r in rows]
    assert shown == [(t["subject"], t["relation"], t["object"]) for t in triples]
    entities = read_csv(out / "entities.csv")
    marks = [m for m in tree.iter("mark") if "title" in m.attrs]
    assert len(marks) == len(entities)


def test_write_stage_alone_gives_the_same_bytes(cli_run, tmp_path):
    import shutil

    _, out, _, _ = cli_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for name in ("report.html", "summary.csv", "triples.csv", "articles.csv"):
        (copy / name).unlink()
    assert main(["write", "--out", str(copy), "--per-article"]) == 0
    for name in ("report.html", "summary.csv", "triples.csv", "articles.csv", "articles/en/spurs.csv"):
        assert (copy / name).read_bytes() == (out / name).read_bytes(), name


def test_terminal_output_is_one_summary_line_and_no_bar_when_not_a_tty(cli_run):
    _, out, stdout, stderr = cli_run
    lines = stdout.splitlines()
    assert len(lines) == 1
    line = lines[0]
    n_triples = len(read_csv(out / "triples.csv"))
    assert line.startswith(f"{len(ARTICLES)} articles read (en 2, it 1)")
    assert "1 skipped: es: skipped: unsupported language es" in line
    assert f"{n_triples} triples written to {out / 'triples.csv'}" in line and "articles/" in line
    assert "stages" not in stderr and "\r" not in stderr


def test_summary_line_stays_one_line_with_multiline_errors(capsys):
    summary = {"articles": 2, "annotated": {"en": 1, "it": 0}, "triples": 3,
               "skipped": [("en/bad\narticle", "failed: relations: ValueError: line one\nline two")]}
    print_summary(summary, Path("out"))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "line one line two" in out


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal():
    terminal = FakeTerminal()
    with progress_bar(terminal) as step:
        for stage in ("ingest", "annotate", "normalise", "relations", "write"):
            step(stage)
    shown = terminal.getvalue()
    for stage in ("ingest", "annotate", "normalise", "relations", "write"):
        assert f"\r{stage} " in shown
    assert shown.endswith("\r") and not shown.rsplit("\r", 2)[-2].strip()  # cleared for the summary line
    pipe = io.StringIO()
    with progress_bar(pipe) as step:
        step("ingest")
    assert pipe.getvalue() == ""
