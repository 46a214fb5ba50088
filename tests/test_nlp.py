"""The annotate pipeline: components and model selection."""
import platform
import subprocess
import sys

import pytest
import spacy

import pipeline.components  # noqa: F401
from pipeline.nlp import MODELS_DIR, build_nlp, load_model, model_setting


@pytest.fixture(scope="module")
def nlp_en():
    return build_nlp("en", model="blank")


def test_lemmas_are_lower_case_lookups(nlp_en):
    doc = nlp_en("Sacked on Monday, the coach left.")
    assert doc[0].lemma_ == "sack" and doc[-2].lemma_ == "leave"


def test_line_breaks_end_sentences(nlp_en):
    doc = nlp_en("Allegri to Real Madrid?\n\nThe club want him")
    assert [s.text.strip() for s in doc.sents if s.text.strip()] == ["Allegri to Real Madrid?", "The club want him"]


def test_a_byline_after_the_final_stop_is_a_sentence_with_its_dash(nlp_en):
    doc = nlp_en("No talks with other clubs. — Paolo Rossi (@rossi_calcio)")
    sentences = [s.text for s in doc.sents]
    assert sentences[0] == "No talks with other clubs."
    assert sentences[1].startswith("— Paolo Rossi")


def test_a_dash_inside_a_sentence_opens_nothing(nlp_en):
    doc = nlp_en("The coach - a former striker - signed until 2027.")
    assert len(list(doc.sents)) == 1


def test_knowledge_base_ruler_tags_clubs_and_outlets(nlp_en):
    doc = nlp_en("The Rossoneri beat Juventus, Sky Sport reported.")
    assert {(e.text, e.label_) for e in doc.ents} >= {("Rossoneri", "CLUB"), ("Juventus", "CLUB"), ("Sky Sport", "MEDIA")}


def test_names_are_found_without_a_statistical_model(nlp_en):
    doc = nlp_en("Chelsea have sacked manager Maresca and want Oliver Glasner to replace him.")
    persons = {e.text for e in doc.ents if e.label_ == "PER"}
    assert {"Maresca", "Oliver Glasner"} <= persons


@pytest.mark.parametrize("lang, text", [
    ("en", "He won't stay: Mr. Sarri didn't sign, the U.S. club said (3-1 win)."),
    ("it", "L'allenatore dell'Inter c'è: l'ha detto all'agente, ecc. a fine stagione."),
])
def test_emptying_the_tokenizer_cache_keeps_its_special_cases(lang, text):
    built = build_nlp(lang, model="blank")
    fresh = spacy.blank(lang)
    assert [t.text for t in built.make_doc(text)] == [t.text for t in fresh.make_doc(text)]
    assert built.tokenizer.rules == fresh.tokenizer.rules


def test_other_models_labels_are_mapped():
    nlp = spacy.blank("en")
    nlp.add_pipe("ner_labels")
    doc = nlp.make_doc("Pep Guardiola in Manchester")
    doc.ents = [spacy.tokens.Span(doc, 0, 2, label="PERSON"), spacy.tokens.Span(doc, 3, 4, label="GPE")]
    assert [e.label_ for e in nlp.get_pipe("ner_labels")(doc).ents] == ["PER", "LOC"]


def test_model_setting_prefers_explicit_then_environment(monkeypatch):
    monkeypatch.setenv("CALCIO_MODEL_IT", "it_core_news_lg")
    assert model_setting("it") == "it_core_news_lg"
    assert model_setting("it", "blank") is None
    assert model_setting("it", "/some/path") == "/some/path"


def test_a_model_for_the_wrong_language_is_refused(tmp_path):
    spacy.blank("it").to_disk(tmp_path / "it-model")
    with pytest.raises(ValueError, match="not 'en'"):
        build_nlp("en", model=str(tmp_path / "it-model"))


def test_each_token_gets_the_lemma_of_its_lower_case_form(nlp_en):
    from pipeline.components.lemmas import lemma_table

    doc = nlp_en("Sacked, sacked and SACKED: the coaches were sacked on Mondays; Coaches left.")
    table = lemma_table("en")
    assert [t.lemma_ for t in doc] == [table.get(t.lower_, t.lower_).lower() for t in doc]
    assert {t.lemma_ for t in doc if t.lower_ == "sacked"} == {"sack"}


def test_the_kb_rulers_filter_keeps_what_spacys_keeps():
    """Matches overwrite the entities they overlap; of overlapping matches the longest
    (then the earliest) wins; the same result as spaCy's prioritize_new_ents_filter."""
    import random

    from spacy.pipeline.span_ruler import prioritize_new_ents_filter
    from spacy.tokens import Span

    from pipeline.components.rulers import prioritize_new_ents

    doc = spacy.blank("en")(" ".join(f"w{i}" for i in range(40)))
    chance = random.Random(7)
    for _ in range(200):
        entities, taken = [], set()
        for start in sorted(chance.sample(range(39), 8)):
            end = start + chance.randint(1, 3)
            if taken.isdisjoint(range(start, end)) and end <= 40:
                entities.append(Span(doc, start, end, label="PER"))
                taken.update(range(start, end))
        matches = [Span(doc, s, min(40, s + chance.randint(1, 4)), label=chance.choice(["CLUB", "MEDIA"]))
                   for s in chance.sample(range(40), 6)]
        assert sorted(prioritize_new_ents(entities, matches)) == sorted(prioritize_new_ents_filter(entities, matches))


def test_entities_are_settled_as_set_ents_leaves_them():
    from spacy.tokens import Span

    from pipeline.components.labels import entities_settled

    nlp = spacy.blank("en")
    doc = nlp("Carlo Ancelotti left Real Madrid")
    assert not entities_settled(doc)  # no entity tags at all yet
    doc.set_ents([Span(doc, 0, 2, label="PER"), Span(doc, 3, 5, label="CLUB", span_id="club:real")])
    assert entities_settled(doc)
    doc.set_ents([Span(doc, 3, 5, label="CLUB")], default="unmodified")  # no id: the tokens keep theirs
    assert entities_settled(doc)
    doc[4].ent_id_ = "club:other"  # one token of the entity with another id
    assert not entities_settled(doc)


def test_our_own_labels_are_left_as_they_are():
    from spacy.tokens import Span

    nlp = spacy.blank("en")
    nlp.add_pipe("ner_labels")
    doc = nlp.make_doc("Pep Guardiola in Manchester")
    doc.set_ents([Span(doc, 0, 2, label="PER", kb_id="person:pep"), Span(doc, 3, 4, label="LOC")])
    before = doc.to_array(["ENT_IOB", "ENT_TYPE", "ENT_KB_ID", "ENT_ID"]).tolist()
    doc = nlp.get_pipe("ner_labels")(doc)
    assert doc.to_array(["ENT_IOB", "ENT_TYPE", "ENT_KB_ID", "ENT_ID"]).tolist() == before
    assert [(e.text, e.label_, e.kb_id_) for e in doc.ents] == [("Pep Guardiola", "PER", "person:pep"),
                                                               ("Manchester", "LOC", "")]


@pytest.mark.skipif(not (MODELS_DIR / "en" / "meta.json").exists(), reason="no trained English model")
def test_the_model_multiplies_through_numpy_and_finds_the_same_entities():
    text = ("Roma have sacked Claudio Ranieri's successor after a 3-0 defeat in Genoa, and the club's "
            "owner Dan Friedkin is talking to Roberto Mancini, according to Gianluca Di Marzio.")
    ours, plain = load_model(str(MODELS_DIR / "en")), spacy.load(MODELS_DIR / "en")
    assert {node.ops.use_blis for node in ours.get_pipe("tok2vec").model.walk()} == {False}
    assert [(e.text, e.label_) for e in ours(text).ents] == [(e.text, e.label_) for e in plain(text).ents]


MAPPED_BLOCKS = """
import ctypes, sys
from pipeline.nlp import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = libc.mallinfo2().hblks
block = bytearray(8 * 1024 * 1024)  # an NER batch's array is a few MB
print(libc.mallinfo2().hblks - before)
"""


def mapped_blocks_for_an_8_mb_array(setting: str) -> int:
    done = subprocess.run([sys.executable, "-c", MAPPED_BLOCKS, setting], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_kept_in_the_heap_instead_of_a_mapping_per_array():
    assert mapped_blocks_for_an_8_mb_array("default") == 1  # glibc maps it, and unmaps it when freed
    assert mapped_blocks_for_an_8_mb_array("keep") == 0
