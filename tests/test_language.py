import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langdetect import detector_factory
from langdetect.lang_detect_exception import LangDetectException

from pipeline.ingest import Article
from pipeline.language import QuickDetector, assign_language, detect, load_profiles

ENGLISH = ("Tottenham have sacked their manager after a run of five defeats, and the club is "
           "expected to name a successor before the weekend according to reports.")
ITALIAN = ("Il Torino ha deciso di esonerare l'allenatore dopo la sconfitta di ieri: la società "
           "sta già valutando i possibili sostituti per la panchina granata.")
SPANISH = ("El Real Madrid ha despedido a su entrenador tras la derrota en el clásico y el club "
           "busca ya un sustituto para el banquillo.")


def test_english_and_italian_are_detected_deterministically():
    assert detect(ENGLISH)[0] == "en"
    assert detect(ITALIAN)[0] == "it"
    assert detect(ITALIAN) == detect(ITALIAN)


def test_other_languages_are_reported_as_unsupported():
    article = assign_language(Article(article_id="es", path="es.txt", text=SPANISH))
    assert article.status == "skipped: unsupported language es"


def test_too_little_text_is_undetermined():
    article = assign_language(Article(article_id="x", path="x.txt", text="3-1 !!"))
    assert article.status == "skipped: language undetermined"


MIXED = ("Tottenham have sacked their manager after a run of five defeats. Il Torino ha deciso di "
         "esonerare l'allenatore dopo la sconfitta di ieri e la società valuta i sostituti.")


def test_mixed_english_and_italian_goes_to_one_supported_pipeline():
    article = assign_language(Article(article_id="mix", path="mix.txt", text=MIXED))
    assert article.ok and article.language in ("en", "it") and article.language_prob >= 0.6
    again = assign_language(Article(article_id="mix", path="mix.txt", text=MIXED))
    assert (again.language, again.language_prob) == (article.language, article.language_prob)


def test_garbage_emoji_and_other_scripts_never_raise():
    for text in ("⚽⚽⚽ 🏆🏆 !!! 2-1 90+3'", "\u200b" * 50, "Ⅻ" * 40, "Россия обыграла Испанию в финале " * 3,
                 "ここで監督が解任された。" * 5, "a" * 5000, "http://x.y/" * 30):
        article = assign_language(Article(article_id="x", path="x.txt", text=text))
        assert article.status == "ok" and article.language in ("en", "it") or article.status.startswith("skipped: ")


def test_ctrl_c_while_the_profiles_load_interrupts_and_never_leaves_half_of_them(monkeypatch):
    """langdetect swallows an interruption while it reads its profiles and then answers
    with the few languages it had read; the signal must interrupt, the profiles be whole."""
    import os
    import signal

    from langdetect import DetectorFactory, detector_factory

    read_profiles = DetectorFactory.load_profile

    def interrupted_while_reading(self, directory):
        os.kill(os.getpid(), signal.SIGINT)
        read_profiles(self, directory)

    monkeypatch.setattr(detector_factory, "_factory", None)
    monkeypatch.setattr(DetectorFactory, "load_profile", interrupted_while_reading)
    italian = "Il Torino ha esonerato l'allenatore dopo la sconfitta con il Genoa di ieri sera al Grande Torino."
    with pytest.raises(KeyboardInterrupt):
        detect(italian)
    monkeypatch.setattr(DetectorFactory, "load_profile", read_profiles)
    assert detect(italian)[0] == "it"
    assert len(detector_factory._factory.langlist) > 50


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aAbBcZzèÈé ’'.,-\n\t0123456789ÀßæœḀ" "Ạṣșțابپیあアㄅ中한"), max_size=120)
       | st.text(max_size=80))
def test_n_grams_are_those_langdetect_itself_extracts(text):
    load_profiles()
    quick = QuickDetector(detector_factory._factory)
    quick.append(text)
    plain = detector_factory._factory.create()
    plain.append(text)
    assert quick._extract_ngrams() == plain._extract_ngrams()


def test_the_quick_detector_gives_langdetects_own_probabilities():
    load_profiles()
    text = ("Il tecnico ha firmato un contratto fino al 2027 con opzione per un altro anno, "
            "mentre la società cerca ancora un direttore sportivo. The club said nothing.")
    quick = QuickDetector(detector_factory._factory)
    plain = detector_factory._factory.create()
    for detector in (quick, plain):
        detector.n_trial = 3
        detector.append(text)
    assert [(p.lang, p.prob) for p in quick.get_probabilities()] == [(p.lang, p.prob) for p in plain.get_probabilities()]


WORDS = ["il", "tecnico", "ha", "firmato", "the", "manager", "was", "sacked", "der", "Trainer", "wurde",
         "entlassen", "el", "entrenador", "fue", "despedido", "Allegri", "Milan", "2027", "—", "città", "ça"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=40), st.integers(1, 7))
def test_the_quick_detectors_probabilities_are_langdetects_on_any_mix_of_words(words, trials):
    load_profiles()
    text = " ".join(words)
    quick = QuickDetector(detector_factory._factory)
    plain = detector_factory._factory.create()
    answers = []
    for detector in (quick, plain):
        detector.n_trial = trials
        detector.append(text)
        try:
            answers.append([(p.lang, p.prob) for p in detector.get_probabilities()])
        except LangDetectException as error:
            answers.append(str(error))
    assert answers[0] == answers[1]
