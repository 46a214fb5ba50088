from pipeline.ingest import Article
from pipeline.language import assign_language, detect

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
