"""Property-based tests (hypothesis): random Unicode and garbage through every stage.

No exception escapes, every offset lies inside the text, and every evidence or mention is
exactly text[start:end]. Examples are kept few so the suite stays fast; hypothesis keeps
the failing ones in .hypothesis/ and replays them first.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.ingest import (
    DEFAULT_MAX_BYTES, Article, clean_text, decode, ingest, is_valid_date, read_article, split_date_header,
)
from pipeline.language import assign_language

FIXTURES = Path(__file__).parent / "fixtures"
QUICK = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words the rules and the tests' KB react to, so random texts do reach the relation rules.
WORDS = ["Juventus", "AC Milan", "Napoli", "Torino", "Chelsea", "Inter", "Massimiliano Allegri", "Allegri",
         "Marco Silva", "Urbano Cairo", "Victor Osimhen", "Sky Sport", "Fabrizio Romano", "@SkySport",
         "have sacked", "has appointed", "ha esonerato", "is set to replace", "potrebbe", "secondo",
         "according to", "reportedly", "denied", "rules out", "until 2027", "three-year deal", "president",
         "il presidente", "allenatore", "head coach", "the 53-year-old", "il tecnico", "he", "lui",
         "interested in", "want", "vuole", "2025", "'s", ",", ".", ";", ":", "!", "?", "\n", "\n\n", " ", "  ",
         "\t", "«", "»", '"', "(", ")", "-", "—", "=", "+", "@", "é", "è", "ß", "İ", "ﬁ", "⚽", "🏴\U000e0067",
         "\u200b", "\u00a0", "\u0301", "\ufeff", "\u2028"]
CLUBS = ["Juventus", "AC Milan", "Napoli", "Torino", "Chelsea", "Inter", "the Bianconeri", "i granata"]
PEOPLE = ["Massimiliano Allegri", "Allegri", "Marco Silva", "Urbano Cairo", "Victor Osimhen", "he", "il tecnico"]
CLAIMS = ["{club} have sacked {person}", "{club} ha esonerato {person}", "{person} is set to replace {other}",
          "{club} are interested in {person}", "{person} signed a three-year deal with {club} until 2027",
          "{person}, the president of {club}, denied it", "secondo Sky Sport il {club} vuole {person}",
          "{club} want {person}, according to Fabrizio Romano", "{person} joins {club} from {other}"]
noise = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), max_size=8).map(" ".join)
claim = st.builds(lambda template, club, person, other, end: template.format(club=club, person=person,
                                                                            other=other) + end,
                  st.sampled_from(CLAIMS), st.sampled_from(CLUBS), st.sampled_from(PEOPLE),
                  st.sampled_from(PEOPLE + CLUBS), st.sampled_from([".", ". ", "!\n", "\n\n", ";", ""]))
article_text = st.lists(st.one_of(claim, noise), max_size=12).map(" ".join)


# ---------------------------------------------------------------------------------------
# ingest

@QUICK
@given(st.binary(max_size=400))
def test_decode_either_gives_text_or_a_short_reason(raw):
    try:
        text, encoding = decode(raw)
    except ValueError as error:
        assert str(error).startswith(("binary file", "malformed UTF")), error
        return
    assert isinstance(text, str) and encoding in ("utf-8", "utf-16", "utf-32", "cp1252", "latin-1")


@QUICK
@given(st.text(max_size=300))
def test_utf8_text_always_decodes_to_itself(text):
    text = clean_text(text)  # what a file of ours would hold after cleaning
    try:
        decoded, encoding = decode(text.encode("utf-8"))
    except ValueError as error:  # only when control characters dominate
        assert "control characters" in str(error)
        return
    assert decoded == text.removeprefix("\ufeff") and encoding == "utf-8"


@QUICK
@given(st.one_of(st.text(max_size=200),
                 st.builds(lambda lead, date, rest: f"{lead}date {date}{rest}",
                           st.sampled_from(["", " ", "\ufeff", "\n "]),
                           st.one_of(st.text(max_size=12), st.from_regex(r"\d{4}-\d{2}(-\d{2})?", fullmatch=True)),
                           st.text(max_size=80))))
def test_date_header_split_never_invents_a_date(text):
    date, body, warning = split_date_header(text)
    assert date == "" or is_valid_date(date)
    assert text.endswith(body) or text.lstrip("\ufeff") == body
    assert not (date and warning)
    if date:
        assert date in text[: len(text) - len(body)]


@QUICK
@given(st.text(max_size=300))
def test_clean_text_keeps_only_text_characters(text):
    cleaned = clean_text(text)
    assert "\r" not in cleaned
    assert all(ch in "\n\t" or ch >= " " or ch == "\u00a0" for ch in cleaned)
    assert clean_text(cleaned) == cleaned


@SLOW
@given(files=st.dictionaries(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/\\\x00"), min_size=1, max_size=12)
    .filter(lambda n: n not in (".", "..")),
    st.one_of(st.binary(max_size=300), article_text.map(lambda t: t.encode("utf-8")),
              article_text.map(lambda t: t.encode("utf-16"))),
    max_size=5),
    max_bytes=st.sampled_from([50, DEFAULT_MAX_BYTES]))
def test_read_article_and_ingest_never_raise(files, max_bytes):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        written = set()
        for name, data in files.items():
            try:
                (root / f"{name}.txt").write_bytes(data)
            except OSError:  # a name this filesystem refuses
                continue
            written.add(f"{name}.txt")
        articles = list(ingest(root, max_bytes=max_bytes))
        assert len(articles) == len(written)
        for article in articles:
            assert article.status == "ok" or article.status.startswith(("skipped: ", "failed: "))
            assert read_article(Path(article.path), root, max_bytes).status == article.status or \
                article.status.startswith("skipped: same article id")
            json.dumps(article.to_json(), ensure_ascii=False).encode("utf-8")  # what the ingest stage saves
            if article.ok:
                assert article.text.strip()
                assign_language(article)
                assert article.ok or article.status.startswith("skipped: ")
            else:
                assert not article.ok


@QUICK
@given(st.text(max_size=400))
def test_language_detection_never_raises(text):
    article = assign_language(Article(article_id="x", path="x.txt", text=text))
    assert article.status == "ok" and article.language in ("en", "it") or article.status.startswith("skipped: ")


# ---------------------------------------------------------------------------------------
# annotate + normalise + relations, on one small pipeline per language built once

@pytest.fixture(scope="module")
def tools(tiny_kb):
    from pipeline.nlp import build_nlp
    from pipeline.normalise import Normaliser
    from pipeline.relations import RelationExtractor

    built = {}
    for lang in ("en", "it"):
        nlp = build_nlp(lang, model="blank", kb=tiny_kb)
        built[lang] = (nlp, Normaliser(nlp, tiny_kb), RelationExtractor(nlp))
    return built


def run_stages(tools, lang: str, text: str):
    from pipeline.annotate import annotate
    from pipeline.normalise import mention_rows
    from pipeline.relations import merge
    from pipeline.engine import triple_row

    nlp, normaliser, extractor = tools[lang]
    article = Article(article_id="a/b", path="a/b.txt", date="2025-06-01", text=text, language=lang)
    errors = []
    docs = list(annotate(nlp, [article], on_error=lambda article_id, error: errors.append(error)))
    assert not errors, errors
    doc = normaliser(docs[0])
    return doc, mention_rows(doc), [triple_row(doc, t) for t in merge(extractor(doc))]


def check_offsets(text, doc, mentions, triples):
    assert doc.text == text
    for ent in doc.ents:
        assert 0 <= ent.start_char <= ent.end_char <= len(text)
    for row in mentions:
        start, end = int(row["start"]), int(row["end"])
        assert 0 <= start <= end <= len(text) and text[start:end] == row["text"]
    for row in triples:
        start, end = int(row["start"]), int(row["end"])
        assert 0 <= start < end <= len(text)
        assert row["evidence"] == text[start:end]
        assert row["subject"] and row["object"]


@SLOW
@given(text=article_text, lang=st.sampled_from(["en", "it"]))
def test_stages_on_football_like_noise(tools, text, lang):
    doc, mentions, triples = run_stages(tools, lang, text)
    event(f"{'some' if triples else 'no'} triples")
    check_offsets(text, doc, mentions, triples)


@SLOW
@given(text=st.text(max_size=300), lang=st.sampled_from(["en", "it"]))
def test_stages_on_any_unicode(tools, text, lang):
    check_offsets(text, *run_stages(tools, lang, text))
