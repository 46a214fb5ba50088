"""Canonical names, person grouping, coreference and roles on text of our own."""
import pytest


@pytest.fixture(scope="module")
def pipelines(tiny_kb):
    """pipelines(lang) -> (nlp, normaliser), built once per language."""
    from pipeline.nlp import build_nlp
    from pipeline.normalise import Normaliser

    built = {}

    def get(lang: str):
        if lang not in built:
            nlp = build_nlp(lang, model="blank", kb=tiny_kb)
            built[lang] = (nlp, Normaliser(nlp, tiny_kb))
        return built[lang]

    return get


@pytest.fixture(scope="module")
def normalised(pipelines):
    def run(lang: str, text: str):
        nlp, normaliser = pipelines(lang)
        doc = normaliser(nlp(text))
        names = doc.user_data["entities"]
        return [(e.text, names[e.kb_id_]["name"], e.label_) for e in doc.ents]

    return run


def test_nicknames_resolve_to_the_canonical_club(normalised):
    mentions = normalised("en", "The Rossoneri beat the Old Lady, and Los Blancos were watching.")
    assert ("Rossoneri", "AC Milan", "CLUB") in mentions
    assert ("Old Lady", "Juventus", "CLUB") in mentions
    assert ("Los Blancos", "Real Madrid", "CLUB") in mentions


def test_lower_case_italian_nicknames(normalised):
    mentions = normalised("it", "I rossoneri hanno battuto i granata a San Siro.")
    assert ("rossoneri", "AC Milan", "CLUB") in mentions
    assert ("granata", "Torino", "CLUB") in mentions


def test_ambiguous_nickname_follows_the_article(normalised):
    club = normalised("it", "Il Napoli ha vinto ancora: gli Azzurri volano in classifica.")
    national = normalised("it", "L'Italia ha vinto ancora: gli Azzurri volano ai Mondiali.")
    assert ("Azzurri", "Napoli", "CLUB") in club
    assert ("Azzurri", "Italy", "CLUB") in national


def test_surname_and_description_take_the_full_name(normalised):
    text = ("Chelsea head coach Enzo Maresca was under pressure. Maresca lost again on Sunday. "
            "The 45-year-old refused to resign.")
    mentions = normalised("en", text)
    assert ("Maresca", "Enzo Maresca", "COACH") in mentions
    assert ("The 45-year-old", "Enzo Maresca", "COACH") in mentions


def test_italian_description_refers_to_the_coach(normalised):
    text = "Il Torino ha scelto Paolo Vanoli. Il tecnico piemontese ha firmato ieri."
    mentions = normalised("it", text)
    assert ("Il tecnico", "Paolo Vanoli", "COACH") in mentions or any(
        t.lower().startswith("il tecnico") and n == "Paolo Vanoli" for t, n, _ in mentions)


def test_roles_tell_players_from_coaches(normalised):
    mentions = normalised("en", "Striker Dusan Vlahovic scored twice for coach Igor Tudor.")
    assert ("Dusan Vlahovic", "Dusan Vlahovic", "PLAYER") in mentions
    assert ("Igor Tudor", "Igor Tudor", "COACH") in mentions


def test_a_shared_surname_is_the_brother_named_last(normalised):
    mentions = normalised("it", "Simone Inzaghi ha lasciato l'Inter. Filippo Inzaghi allena il Genoa e Inzaghi sogna la promozione.")
    assert ("Inzaghi", "Filippo Inzaghi") in [(text, name) for text, name, _ in mentions]


def test_a_function_word_the_ner_took_for_a_name_is_no_person(tiny_kb):
    from spacy.tokens import Span

    from pipeline.nlp import build_nlp
    from pipeline.normalise import Normaliser

    nlp = build_nlp("en", model="blank", kb=tiny_kb)
    doc = nlp("Yet five months later, Marco Silva has Fulham top of the table.")
    doc.ents = [Span(doc, 0, 1, label="PER")] + [e for e in doc.ents if e.start > 0]
    names = Normaliser(nlp, tiny_kb)(doc).user_data["entities"]
    assert not any(info["name"] == "Yet" for info in names.values())
    assert any(info["name"] == "Marco Silva" for info in names.values())


def test_the_article_view_reads_the_doc_as_spacy_does(pipelines):
    from pipeline.normalise import Article

    nlp, _ = pipelines("en")
    doc = nlp("Juventus won 2-0 on Sunday.\n\n \nMassimiliano Allegri's side  were happy!  "
              "Did the coach smile? @SkySport says yes, and so does Rino Vescovi.")
    article = Article(doc)
    assert article.texts == [t.text for t in doc]
    assert article.lower == [t.lower_ for t in doc]
    assert article.sentences == [s.start for s in doc.sents] + [len(doc)]
    assert [(article.sent_start[t.i], article.sent_end[t.i]) for t in doc] == [(t.sent.start, t.sent.end) for t in doc]
    assert [(e.start, e.end, e.label, e.ids, e.text) for e in article.ents] == \
        [(e.start, e.end, e.label_, e.ent_id_, e.text) for e in doc.ents]
    assert any(e.ids for e in article.ents) and any(not e.ids for e in article.ents)  # the KB ruler's and others
    assert all(article.span_text(i, j) == doc[i:j].text for i in range(len(doc)) for j in range(i + 1, len(doc) + 1))


def test_mention_rows_give_offsets_sentences_and_the_component(pipelines):
    from pipeline.normalise import mention_rows

    nlp, normaliser = pipelines("en")
    text = ("Juventus sacked their coach on Monday.\n\nIgor Tudor was told by the club after training. "
            "Tudor had been in charge since March. @SkySport broke the news.")
    doc = nlp(text)
    doc.user_data["article_id"] = "en/sacked"
    rows = mention_rows(normaliser(doc))
    assert all(row["article_id"] == "en/sacked" and text[row["start"]:row["end"]] == row["text"] for row in rows)
    assert [(r["text"], r["canonical"], r["type"], r["sentence"], r["component"]) for r in rows] == [
        ("Juventus", "Juventus", "CLUB", 0, "kb ruler"),
        ("Igor Tudor", "Igor Tudor", "PERSON", 2, "ner"),  # sentence 1 is the blank line
        ("the club", "Juventus", "CLUB", 2, "coreference"),
        ("Tudor", "Igor Tudor", "PERSON", 3, "surname"),
        ("@SkySport", "Sky Sport", "MEDIA", 4, "kb ruler"),
    ]


def test_a_blank_line_is_no_sentence_between_a_pronoun_and_its_person(normalised):
    talked_about = "Carlo Ancelotti praised his players. Ancelotti was calm and Ancelotti smiled. "
    after = "Chelsea won again. Napoli lost. Roma drew. He left early."
    blank_line = normalised("en", talked_about + "Igor Tudor watched from the stand.\n\n \n\n" + after)
    one_more = normalised("en", talked_about + "Igor Tudor watched from the stand. It rained. " + after)
    assert ("He", "Igor Tudor", "PER") in blank_line  # the subject three sentences back
    assert ("He", "Carlo Ancelotti", "PER") in one_more  # four back: the article's main person


def test_the_annotated_doc_with_the_additions_is_the_normalised_doc(pipelines):
    """The cache keeps the annotated doc and what normalise added: together they give the
    normalised doc back, entities, KB ids and names included."""
    import json

    from pipeline.engine import bytes_doc, doc_bytes
    from pipeline.normalise import additions, with_additions

    nlp, normaliser = pipelines("en")
    text = "Chelsea sacked Enzo Maresca. The Blues want Oliver Glasner; Glasner said he is happy."
    annotated = doc_bytes(nlp(text))
    normalised = normaliser(bytes_doc(annotated, nlp.vocab))
    saved = json.loads(json.dumps(additions(normalised)))
    rebuilt = with_additions(bytes_doc(annotated, nlp.vocab), saved)
    assert [(e.start, e.end, e.label_, e.kb_id_) for e in rebuilt.ents] == \
        [(e.start, e.end, e.label_, e.kb_id_) for e in normalised.ents]
    assert rebuilt.user_data["entities"] == normalised.user_data["entities"]
    assert rebuilt.user_data["found_by"] == normalised.user_data["found_by"]
    assert any(e.text == "Blues" for e in rebuilt.ents)  # a nickname normalise resolved
