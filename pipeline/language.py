"""Stage 2: detect each article's language; only English and Italian go on.

langdetect is probabilistic; seeding its factory makes every answer repeatable. Other
languages are recorded as unsupported with the language found, never routed to the
English or Italian pipeline.
"""
from __future__ import annotations

import os
import signal
import threading

from collections.abc import Container

import numpy
from langdetect import DetectorFactory, detector_factory
from langdetect.detector import Detector
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.ngram import NGram

from pipeline.ingest import Article

SUPPORTED = ("en", "it")
# The opening of an article (about 170 words) names its language surely; langdetect's
# cost grows with the text and with its number of random trials (7 by default).
SAMPLE_CHARS = 1000
TRIALS = 3
MIN_LETTERS = 20
MIN_PROBABILITY = 0.60

DetectorFactory.seed = 0


def load_profiles() -> None:
    """Load langdetect's language profiles once, holding back Ctrl-C and SIGTERM.

    langdetect turns any exception raised while it reads its profiles, KeyboardInterrupt
    included, into a LangDetectException and keeps the half-loaded set, after which it
    answers with whatever languages it had loaded. A signal that comes meanwhile is
    recorded and sent again once the profiles are in, as a normal interruption.
    """
    if detector_factory._factory is not None:
        return
    if threading.current_thread() is not threading.main_thread():  # signals go to the main thread
        init_profiles()
        return
    caught: list[int] = []
    previous = {number: signal.signal(number, lambda signum, frame: caught.append(signum))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        init_profiles()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    for number in caught[:1]:
        os.kill(os.getpid(), number)


def init_profiles() -> None:
    try:
        detector_factory.init_factory()
    except LangDetectException:
        detector_factory._factory = None  # never keep a half-loaded set
        raise


class NormalisedChars(dict):
    """langdetect's normalisation of each character (NGram.normalize), worked out once per
    character, as a str.translate table."""

    def __missing__(self, code: int) -> str:
        self[code] = normalised = NGram.normalize(chr(code))
        return normalised


NORMALISED = NormalisedChars()


def known_ngrams(text: str, known: Container[str]) -> list[str]:
    """The 1-, 2- and 3-grams of text that langdetect's profiles know, as langdetect's own
    Detector._extract_ngrams lists them (same n-grams, same order, same rules: a space
    starts a word, nothing is taken inside an all-capitals word), about twice as fast: its
    normalisation looks up each character's Unicode block, here a table does it once."""
    found: list[str] = []
    grams, capitals = " ", False
    for char in text.translate(NORMALISED):
        last = grams[-1]
        if last == " ":
            grams, capitals = " ", False
            if char == " ":
                continue
        elif len(grams) >= 3:
            grams = grams[1:]
        grams += char
        if not char.isupper():
            capitals = False
        elif last.isupper():
            capitals = True
        if capitals:
            continue
        if char != " " and char in known:
            found.append(char)
        if len(grams) >= 2 and grams[-2:] in known:
            found.append(grams[-2:])
        if len(grams) == 3 and grams in known:
            found.append(grams)
    return found


class QuickDetector(Detector):
    """langdetect's Detector, faster with the same answers: its n-gram extraction, and its
    probabilities held in a numpy array. numpy multiplies and divides each element as
    Python does (IEEE doubles, same operations in the same order); only the sum, whose
    order of additions changes its rounding, is left to Python."""

    def _extract_ngrams(self) -> list[str]:
        return known_ngrams(self.text, self.word_lang_prob_map)

    def _init_probability(self) -> numpy.ndarray:
        return numpy.array(super()._init_probability(), dtype=numpy.float64)

    def _update_lang_prob(self, prob: numpy.ndarray, word: str | None, alpha: float) -> bool:
        if word is None or word not in self.word_lang_prob_map:
            return False
        prob *= alpha / self.BASE_FREQ + word_probabilities(self.word_lang_prob_map, word)
        return True

    def _normalize_prob(self, prob: numpy.ndarray) -> float:
        """Divide by the sum, as langdetect (which raises on a sum of 0); the largest."""
        total = sum(prob.tolist())
        if not total:
            raise ZeroDivisionError("every language's probability vanished")
        prob /= total
        return float(prob.max())


WORD_PROBABILITIES: dict[str, numpy.ndarray] = {}


def word_probabilities(profiles: dict[str, list[float]], word: str) -> numpy.ndarray:
    """A profile n-gram's probability per language, as an array (made once per n-gram)."""
    found = WORD_PROBABILITIES.get(word)
    if found is None:
        found = WORD_PROBABILITIES[word] = numpy.array(profiles[word], dtype=numpy.float64)
    return found


def detect(text: str) -> tuple[str, float]:
    """Return (language code, probability); ('', 0.0) when there is too little text."""
    load_profiles()
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return "", 0.0
    try:
        detector = QuickDetector(detector_factory._factory)
        detector.n_trial = TRIALS
        detector.append(sample)
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError, ValueError, ZeroDivisionError):  # no usable features in the sample
        return "", 0.0
    return best.lang, round(float(best.prob), 4)


def assign_language(article: Article) -> Article:
    """Set language, probability and status on an ingested article."""
    if not article.ok:
        return article
    language, probability = detect(article.text)
    article.language, article.language_prob = language, probability
    if not language or probability < MIN_PROBABILITY:
        article.status = "skipped: language undetermined"
    elif language not in SUPPORTED:
        article.status = f"skipped: unsupported language {language}"
    return article
