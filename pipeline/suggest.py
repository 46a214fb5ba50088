"""`make suggest-rules`: propose relation rules from the gold triples the pipeline misses.

For every gold triple that no predicted triple matches (the contract scorer decides, as
in `make evaluate`), the sentences naming both its subject and its object give the words
that link them. Those words become candidate Matcher patterns in our rule format, at
several levels of generality:

- exact: the arguments as entity types (`role: subject|object`), every word between
  them as its lemma, function words and punctuation as they are;
- relaxed: the same with function words, punctuation and adverbs optional;
- either of those with one word of context before or after the pair;
- anchor: one content lemma between (or just around) the arguments, with capped
  wildcards for the rest ("X ... sack ... Y"), alone or with the function word after it
  ("sacked by").

Each candidate is compiled with `relations.compile_rule` and applied through the
pipeline's own `RelationExtractor` (argument binding, values, past jobs) to every doc of
every gold corpus. Its triples are judged by the contract scorer: right (a required gold
triple), neutral (an optional one) or wrong; recovered are the right ones the pipeline
misses now. Suggestions are ranked by precision, then by the missed triples they
recover. Nothing is written to pipeline/rules: a person reads the list and pastes the
entries they accept.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span, Token

from pipeline import evaluate, rule_report, stages
from pipeline.ingest import article_id_for, find_articles
from pipeline.nlp import build_nlp
from pipeline.normalise import Normaliser
from pipeline.relations import LABELS_FOR, RELATIONS, RelationExtractor, Rule, compile_rule
from pipeline.ruleset import RULES_DIR, RuleFileError, load_yaml, rule_file

ROOT = evaluate.ROOT
DEFAULT_YAML = ROOT / "outputs" / "suggested-rules.yml"
# pipeline/ files an extract run does not depend on: editing them leaves a run up to date
NOT_IN_A_RUN = {"suggest.py", "evaluate.py", "rule_report.py", "train.py", "bench.py"}
VALUE_KIND = {"contract_until": "year", "contract_length": "years"}
ADVERB_ENDINGS = {"en": ("ly",), "it": ("mente",)}
LEVEL_RANK = {"exact": 0, "relaxed": 1, "anchor": 2}
OUR_CORPUS = "corpus"


@dataclass
class Options:
    min_precision: float = 0.5
    min_support: int = 2          # gold triples a suggestion must find (one of them a missed one)
    max_gap: int = 8              # longest run of words between the arguments spelled out token by token
    max_wildcard: int = 6         # longest wildcard (tokens) in an anchor pattern
    slack: int = 2                # extra tokens a wildcard allows beyond the evidence's own gap
    context: int = 3              # tokens around the pair searched for context anchors
    max_evidence: int = 3         # sentences used per missed triple
    per_miss: int = 3             # suggestions kept per missed triple


@dataclass
class Corpus:
    """One gold-annotated corpus: its normalised docs, its gold and the gold the pipeline misses."""
    name: str
    docs: list[Doc]
    gold: list[dict]              # rows as the contract scorer loads them
    articles: set[str]            # articles the gold covers (predictions elsewhere are not judged)
    missed: list[dict]            # the gold rows no predicted triple matches


@dataclass
class Evidence:
    """A sentence naming both arguments of a missed gold triple."""
    corpus: str
    index: int                    # of the gold row in its corpus
    gold: dict
    doc: Doc
    subject: Span
    object: Span

    @property
    def key(self) -> tuple[str, int]:
        return self.corpus, self.index

    @property
    def sentence(self) -> Span:
        return self.subject.sent

    @property
    def text(self) -> str:
        return " ".join(self.sentence.text.split())

    def triple(self) -> str:
        value = f" {self.gold['value']}" if self.gold.get("value") else ""
        return f"{self.gold['subject'][0]} -{self.gold['relation']}-> {self.gold['object'][0]}{value}"


@dataclass
class Candidate:
    """A candidate pattern, where it came from and how it did over the corpora. Triples are
    keyed (corpus, article, subject, relation, object, value); gold rows (corpus, index)."""
    lang: str
    relation: str
    level: str
    pattern: list[dict]
    origins: list[Evidence]
    value: str | None = None
    found: set[tuple] = field(default_factory=set)       # (corpus, gold index) of required gold found
    recovered: set[tuple] = field(default_factory=set)   # those among the missed
    right: set[tuple] = field(default_factory=set)       # its triples matching required gold
    neutral: set[tuple] = field(default_factory=set)     # its triples matching optional gold only
    wrong: set[tuple] = field(default_factory=set)       # its triples matching no gold
    rule_id: str = ""                                    # while it is scored
    examples: list[str] = field(default_factory=list)    # set by check_examples
    example_fires: bool | None = None                    # in the blank pipeline of tests/test_rules.py

    def key(self) -> tuple:
        return self.lang, self.relation, self.value, json.dumps(self.pattern, sort_keys=True)

    def raw_rule(self, rule_id: str) -> dict:
        raw = {"id": rule_id, "relation": self.relation, "pattern": self.pattern}
        if self.value:
            raw["value"] = self.value
        return raw

    @property
    def precision(self) -> float:
        judged = len(self.right) + len(self.wrong)
        return len(self.right) / judged if judged else 0.0

    @property
    def constraints(self) -> int:
        """Tokens that must be there: fewer means a more general pattern."""
        return sum(1 for t in self.pattern if t.get("OP") not in ("?", "*") and not str(t.get("OP", "")).startswith("{0"))

    def outcome(self) -> tuple:
        return self.lang, self.relation, frozenset(self.right | self.neutral | self.wrong)


# -- the corpora ---------------------------------------------------------------------------
def run_sources() -> list[Path]:
    """The files an extract run depends on: pipeline code, rules, KB, models."""
    sources = [p for p in (ROOT / "pipeline").rglob("*") if p.is_file() and p.name not in NOT_IN_A_RUN
               and "__pycache__" not in p.parts]
    return sources + [p for p in (ROOT / "models").rglob("*") if p.is_file()]


def up_to_date(in_dir: Path, out: Path, sources: list[Path]) -> bool:
    """Whether the run in OUT covers exactly the articles of in_dir and is newer than them and the sources."""
    done = out / "triples.csv"
    if not done.exists() or not (out / "articles.csv").exists():
        return False
    built = done.stat().st_mtime
    texts = find_articles(in_dir)
    if any(p.stat().st_mtime > built for p in [*texts, *sources]):
        return False
    listed = {row["article_id"] for row in rule_report.read_rows(out / "articles.csv")}
    return listed == {article_id_for(p, in_dir) for p in texts}


def make_corpus(name: str, docs: list[Doc], gold_paths: list[Path], predicted: list[dict], scorer) -> Corpus:
    """A corpus with the gold rows the predicted triples miss, by the contract scorer's matching."""
    gold, articles, languages = scorer.load_gold([str(p) for p in gold_paths])
    predicted = [row for row in predicted if row["article_id"] in articles]
    missed = scorer.score(gold, predicted, languages)["missed"]
    return Corpus(name=name, docs=docs, gold=gold, articles=articles, missed=missed)


def load_corpora(shared: Path, out_root: Path, scorer, rerun: bool = False, reuse: bool = False) -> list[Corpus]:
    """Every corpus `make evaluate` knows, run through the pipeline unless its run is up to
    date (`rerun`: always; `reuse`: never when there is one)."""
    corpora = []
    sources = run_sources()
    with tempfile.TemporaryDirectory() as scratch:
        for name, in_dir, gold_paths in evaluate.evaluations(shared, Path(scratch)):
            if not find_articles(in_dir):
                print(f"{name}: no articles in {in_dir}, left out", file=sys.stderr)
                continue
            out = out_root / name
            fresh = (out / "triples.csv").exists() if reuse else up_to_date(in_dir, out, sources)
            if rerun or not fresh:
                print(f"{name}: running the pipeline on {in_dir} -> {out}", file=sys.stderr)
                stages.run_extract(in_dir, out)
            else:
                print(f"{name}: reusing the run in {out}", file=sys.stderr)
            docs = list(stages.normalised_docs(out))
            if not docs:
                raise stages.StageError(f"{out}: no normalised docs; run again with --rerun")
            predicted = rule_report.read_rows(out / "triples.csv")
            corpora.append(make_corpus(name, docs, gold_paths, predicted, scorer))
    return corpora


# -- evidence --------------------------------------------------------------------------------
def mentions(doc: Doc, accepted: set[str], wanted: str, norm) -> tuple[list[Span], list[Span]]:
    """Mentions of an entity named as gold accepts: (those typed as the relation wants, all)."""
    names = doc.user_data.get("entities", {})
    named = [e for e in doc.ents if norm(names.get(e.kb_id_, {}).get("name", "")) in accepted]
    return [e for e in named if e.label_ in LABELS_FOR[wanted]], named


def find_evidence(corpus: Corpus, index: int, docs: dict[str, Doc], norm, limit: int) -> tuple[list[Evidence], str]:
    """Sentences naming both arguments of gold row `index`, nearest pair first, or why there is none."""
    gold = corpus.gold[index]
    doc = docs.get(gold["article"])
    if doc is None:
        return [], "article not processed"
    subject_type, object_type, _ = RELATIONS[gold["relation"]]
    subjects, subject_named = mentions(doc, gold["subject_n"], subject_type, norm)
    objects, object_named = mentions(doc, gold["object_n"], object_type, norm)
    for role, typed, named in (("subject", subjects, subject_named), ("object", objects, object_named)):
        if not named:
            return [], f"{role} not found under an accepted name"
        if not typed:
            return [], f"{role} typed {'/'.join(sorted({e.label_ for e in named}))}"
    pairs = {}
    for s in subjects:
        for o in objects:
            if s.sent.start == o.sent.start and (s.end <= o.start or o.end <= s.start):
                distance = max(o.start - s.end, s.start - o.end)
                best = pairs.get(s.sent.start)
                if best is None or distance < best[0]:
                    pairs[s.sent.start] = (distance, s, o)
    if not pairs:
        return [], "never named in one sentence"
    nearest = sorted(pairs.values(), key=lambda p: (p[0], p[1].start))[:limit]
    return [Evidence(corpus.name, index, gold, doc, s, o) for _, s, o in nearest], ""


# -- generalisation ----------------------------------------------------------------------------
def argument_token(role: str, wanted: str) -> dict:
    """The token binding an argument: any entity type the relation accepts for it."""
    labels = sorted(LABELS_FOR[wanted])
    return {"ENT_TYPE": labels[0] if len(labels) == 1 else {"IN": labels}, "OP": "+", "role": role}


def is_adverb(token: Token) -> bool:
    return token.lower_.endswith(ADVERB_ENDINGS.get(token.lang_, ())) and len(token) > 5


def is_content(token: Token) -> bool:
    return token.is_alpha and not token.is_stop and not token.ent_type_ and len(token) > 1


def word_token(token: Token, relaxed: bool) -> dict:
    """A word as a pattern token: lemma for content words, the form for function words."""
    if token.is_punct:
        spec = {"ORTH": straight(token.text)}
    elif token.like_num:
        spec = {"LIKE_NUM": True}
    elif token.is_stop:
        spec = {"LOWER": straight(token.lower_)}
    else:
        spec = {"LEMMA": straight(token.lemma_ or token.lower_)}
    if relaxed and (token.is_punct or (token.is_stop and not token.like_num) or is_adverb(token)):
        spec["OP"] = "?"
    return spec


def straight(text: str) -> str:
    """Typographic apostrophes as straight ones: compile_rule lets ' match both."""
    return text.replace("’", "'")


def units(doc: Doc, start: int, end: int) -> list[Span | Token]:
    """Tokens start..end with every entity mention among them kept whole."""
    entity_at = {e.start: e for e in doc.ents}
    found, i = [], start
    while i < end:
        entity = entity_at.get(i)
        if entity is not None and entity.end <= end:
            found.append(entity)
            i = entity.end
        else:
            found.append(doc[i])
            i += 1
    return found


def unit_token(unit: Span | Token, relaxed: bool) -> dict:
    if isinstance(unit, Span):
        return {"ENT_TYPE": unit.label_, "OP": "+"}
    return word_token(unit, relaxed)


def wildcard(size: int, arguments: list[str]) -> dict:
    """Up to `size` tokens of the same sentence, none of them an entity of an argument's type."""
    return {"IS_SENT_START": False, "ENT_TYPE": {"NOT_IN": arguments}, "OP": f"{{0,{size}}}"}


class Generaliser:
    """Candidate patterns for one piece of evidence."""

    def __init__(self, evidence: Evidence, options: Options):
        self.options = options
        subject_type, object_type, _ = RELATIONS[evidence.gold["relation"]]
        subject = (evidence.subject, argument_token("subject", subject_type))
        obj = (evidence.object, argument_token("object", object_type))
        (self.first, self.first_token), (self.second, self.second_token) = sorted((subject, obj), key=lambda a: a[0].start)
        self.doc = evidence.doc
        self.sentence = evidence.sentence
        self.argument_labels = sorted(LABELS_FOR[subject_type] | LABELS_FOR[object_type])
        self.gap = units(self.doc, self.first.end, self.second.start)

    def candidates(self) -> list[tuple[str, list[dict]]]:
        found = []
        gap_length = self.second.start - self.first.end
        adjacent_same = not self.gap and self.first_token["ENT_TYPE"] == self.second_token["ENT_TYPE"]
        if gap_length <= self.options.max_gap and not adjacent_same:
            for level, relaxed in (("exact", False), ("relaxed", True)):
                middle = [unit_token(u, relaxed) for u in self.gap]
                core = [self.first_token, *middle, self.second_token]
                found.append((level, core))
                left, right = self.neighbour(-1), self.neighbour(+1)
                if left is not None:
                    found.append((level, [unit_token(left, relaxed), *core]))
                if right is not None:
                    found.append((level, [*core, unit_token(right, relaxed)]))
        found += self.anchors()
        return found

    def neighbour(self, direction: int) -> Span | Token | None:
        """The word just before the pair (-1) or just after it (+1) in the sentence, not punctuation."""
        i = self.first.start - 1 if direction < 0 else self.second.end
        if not self.sentence.start <= i < self.sentence.end:
            return None
        unit = next((e for e in self.sentence.ents if e.start <= i < e.end), None) or self.doc[i]
        return None if isinstance(unit, Token) and (unit.is_punct or unit.is_space) else unit

    def free(self, start: int, end: int) -> bool:
        """Whether a wildcard may stand for doc[start:end]."""
        return not any(t.ent_type_ in self.argument_labels for t in self.doc[start:end])

    def span_wildcard(self, start: int, end: int) -> dict | None:
        if end - start > self.options.max_wildcard or not self.free(start, end):
            return None
        return wildcard(min(end - start + self.options.slack, self.options.max_wildcard), self.argument_labels)

    def anchors(self) -> list[tuple[str, list[dict]]]:
        """One content lemma with capped wildcards: "X ... sack ... Y", "X ... sack by ... Y"."""
        found = []
        first_end, second_start = self.first.end, self.second.start
        for token in self.doc[first_end:second_start]:
            if not is_content(token):
                continue
            after = token.i + 1
            with_next = after < second_start and self.doc[after].is_stop and not self.doc[after].is_punct
            for words in ([token], [token, self.doc[after]]) if with_next else ([token],):
                before = self.span_wildcard(first_end, token.i)
                behind = self.span_wildcard(words[-1].i + 1, second_start)
                if before is not None and behind is not None:
                    found.append(("anchor", [self.first_token, before, *[word_token(w, False) for w in words],
                                             behind, self.second_token]))
        found += self.context_anchors()
        return found

    def context_anchors(self) -> list[tuple[str, list[dict]]]:
        """A content lemma just before or after the pair: "X and Y part ways"."""
        between = self.span_wildcard(self.first.end, self.second.start)
        if between is None:
            return []
        found = []
        reach = self.options.context
        for token in self.doc[max(self.sentence.start, self.first.start - reach): self.first.start]:
            gap = self.span_wildcard(token.i + 1, self.first.start)
            if is_content(token) and gap is not None:
                found.append(("anchor", [word_token(token, False), gap, self.first_token, between, self.second_token]))
        for token in self.doc[self.second.end: min(self.sentence.end, self.second.end + reach)]:
            gap = self.span_wildcard(self.second.end, token.i)
            if is_content(token) and gap is not None:
                found.append(("anchor", [self.first_token, between, self.second_token, gap, word_token(token, False)]))
        return found


def value_kind(gold: dict) -> str | None:
    if gold["relation"] == "former_coach_of" and gold.get("value"):
        return "period"
    return VALUE_KIND.get(gold["relation"])


def generate(evidence: list[Evidence], options: Options) -> list[Candidate]:
    """Every candidate of every piece of evidence, the same pattern once (with all its origins)."""
    unique: dict[tuple, Candidate] = {}
    for item in evidence:
        for level, pattern in Generaliser(item, options).candidates():
            candidate = Candidate(lang=item.doc.lang_, relation=item.gold["relation"], level=level,
                                  pattern=pattern, origins=[item], value=value_kind(item.gold))
            known = unique.setdefault(candidate.key(), candidate)
            if known is not candidate and all(o.key != item.key for o in known.origins):
                known.origins.append(item)
    return list(unique.values())


# -- scoring ---------------------------------------------------------------------------------
def candidate_extractor(nlp, rules: list[Rule]) -> RelationExtractor:
    """The pipeline's RelationExtractor (argument binding, values, status) applying the given
    rules in place of those of the rule file."""
    extractor = RelationExtractor(nlp)
    extractor.rules = {rule.id: rule for rule in rules}
    extractor.matcher = Matcher(nlp.vocab)
    for rule in rules:
        extractor.matcher.add(rule.id, [rule.pattern], greedy="LONGEST")
    return extractor


def produced_triples(corpus: Corpus, candidates: list[Candidate]) -> dict[str, set[tuple]]:
    """rule id -> (article, subject, relation, object, value) of every triple it produces in the corpus."""
    produced: dict[str, set[tuple]] = defaultdict(set)
    by_vocab: dict[int, list[Doc]] = defaultdict(list)
    for doc in corpus.docs:
        by_vocab[id(doc.vocab)].append(doc)
    for docs in by_vocab.values():
        lang = docs[0].lang_
        rules = [compile_rule(c.raw_rule(c.rule_id), "suggested") for c in candidates if c.lang == lang]
        if not rules:
            continue
        extractor = candidate_extractor(spacy.blank(lang, vocab=docs[0].vocab), rules)
        for doc in docs:
            names = doc.user_data.get("entities", {})
            try:
                triples = extractor(doc)
            except Exception as error:  # noqa: BLE001 - one doc must not stop the others
                print(f"warning: {doc.user_data.get('article_id')}: candidates not applied: "
                      f"{type(error).__name__}: {error}", file=sys.stderr)
                continue
            for t in triples:
                produced[t.rule].add((t.article_id, names[t.subject_id]["name"], t.relation,
                                      names[t.object_id]["name"], t.value))
    return produced


def judge(corpus: Corpus, keys: set[tuple], scorer) -> dict[tuple, tuple[str, list[int]]]:
    """key -> (right|neutral|wrong, indices of the required gold it matches); unscored articles left out."""
    verdicts = {}
    for key in keys:
        if key[0] not in corpus.articles:
            continue
        row = dict(zip(("article_id", "subject", "relation", "object", "value"), key))
        found = [i for i, g in enumerate(corpus.gold) if not g.get("optional") and scorer.matches(g, row)]
        if found:
            verdicts[key] = ("right", found)
        elif any(g.get("optional") and scorer.matches(g, row) for g in corpus.gold):
            verdicts[key] = ("neutral", [])
        else:
            verdicts[key] = ("wrong", [])
    return verdicts


def score_candidates(candidates: list[Candidate], corpora: list[Corpus], scorer) -> None:
    """Fill found / recovered / right / neutral / wrong of every candidate over every corpus."""
    for number, candidate in enumerate(candidates):
        candidate.rule_id = f"candidate.{number}"
    by_id = {c.rule_id: c for c in candidates}
    for corpus in corpora:
        produced = produced_triples(corpus, candidates)
        verdicts = judge(corpus, set().union(*produced.values()) if produced else set(), scorer)
        missed = {id(g) for g in corpus.missed}
        for rule_id, keys in produced.items():
            candidate = by_id[rule_id]
            for key in keys:
                if key not in verdicts:
                    continue
                verdict, indices = verdicts[key]
                getattr(candidate, verdict).add((corpus.name, *key))
                candidate.found.update((corpus.name, i) for i in indices)
                candidate.recovered.update((corpus.name, i) for i in indices if id(corpus.gold[i]) in missed)


# -- ranking ----------------------------------------------------------------------------------
def rank(candidates: list[Candidate], options: Options) -> list[Candidate]:
    """Those that recover a missed triple and pass the thresholds, one per outcome (the most
    general pattern), best precision first, then most recovered, at most `per_miss` per miss."""
    kept = [c for c in candidates if c.recovered and len(c.found) >= options.min_support
            and c.precision >= options.min_precision]
    best: dict[tuple, Candidate] = {}
    for c in sorted(kept, key=lambda c: (c.constraints, -LEVEL_RANK[c.level], len(c.pattern))):
        best.setdefault(c.outcome(), c)
    ordered = sorted(best.values(), key=lambda c: (-c.precision, -len(c.recovered), -len(c.found),
                                                   c.constraints, json.dumps(c.key())))
    per_miss: dict[tuple, int] = defaultdict(int)
    chosen = []
    for c in ordered:
        origin = c.origins[0].key
        if per_miss[origin] < options.per_miss and not any(dominates(b, c) for b in chosen):
            per_miss[origin] += 1
            chosen.append(c)
    return chosen


def dominates(better: Candidate, other: Candidate) -> bool:
    """Finds all the other finds, with no more wrong triples."""
    return better.right >= other.right and better.recovered >= other.recovered and better.wrong <= other.wrong


def suggestion_ids(chosen: list[Candidate]) -> list[str]:
    """<lang>.<relation>.suggested_<n>, numbered per relation, never an id the rule file already has."""
    taken = set()
    for lang in {c.lang for c in chosen}:
        try:
            taken |= {str(r.get("id")) for r in rule_file(lang, "relations") or []}
        except RuleFileError:
            pass
    ids, counters = [], defaultdict(int)
    for c in chosen:
        while True:
            counters[(c.lang, c.relation)] += 1
            rule_id = f"{c.lang}.{c.relation}.suggested_{counters[(c.lang, c.relation)]}"
            if rule_id not in taken:
                break
        ids.append(rule_id)
    return ids


def evidence_texts(candidate: Candidate) -> list[str]:
    return list(dict.fromkeys(o.text for o in candidate.origins))


def check_examples(chosen: list[Candidate]) -> None:
    """Keep the evidence sentences the pattern matches in the blank pipeline (KB and rules,
    no statistical NER) that tests/test_rules.py checks every rule example with."""
    tools = {}
    for c in chosen:
        if c.lang not in tools:
            nlp = build_nlp(c.lang, model="blank")
            tools[c.lang] = (nlp, Normaliser(nlp))
        nlp, normaliser = tools[c.lang]
        matcher = Matcher(nlp.vocab)
        matcher.add("suggested", [compile_rule(c.raw_rule("suggested"), "suggested").pattern])
        texts = evidence_texts(c)
        firing = [text for text in texts if matcher(normaliser(nlp(text)))]
        c.examples, c.example_fires = (firing or texts)[:2], bool(firing)


# -- output ------------------------------------------------------------------------------------
def render(pattern: list[dict]) -> str:
    """A pattern in one line: [subject:COACH|PER] sack "by" [object:CLUB], optional words with ?."""
    return " ".join(render_token(t) for t in pattern)


def render_token(token: dict) -> str:
    op = str(token.get("OP", ""))
    if "role" in token or (set(token) <= {"ENT_TYPE", "OP"} and "ENT_TYPE" in token):
        labels = token["ENT_TYPE"]
        labels = "|".join(labels["IN"]) if isinstance(labels, dict) else labels
        return f"[{token['role']}:{labels}]" if "role" in token else f"[{labels}]"
    if op.startswith("{"):
        return f"…{op}"
    if "LEMMA" in token:
        text = token["LEMMA"]
    elif "LIKE_NUM" in token:
        text = "<number>"
    else:
        text = json.dumps(token.get("LOWER", token.get("ORTH")), ensure_ascii=False)
    return text + ("?" if op == "?" else "")


def origin_line(evidence: Evidence) -> str:
    return f"{evidence.corpus} {evidence.gold['article']}: {evidence.triple()}"


def describe(candidate: Candidate) -> str:
    origin = candidate.origins[0]
    also = f" (and {len(candidate.origins) - 1} more)" if len(candidate.origins) > 1 else ""
    return (f"suggested from the missed gold triple {origin.triple()} ({origin.corpus} "
            f"{origin.gold['article']}){also}: {candidate.level} pattern {render(candidate.pattern)}")


def scores_line(candidate: Candidate) -> str:
    return (f"precision {candidate.precision:.2f} ({len(candidate.right)} right, {len(candidate.wrong)} wrong, "
            f"{len(candidate.neutral)} neutral); finds {len(candidate.found)} gold triples, "
            f"recovers {len(candidate.recovered)} missed")


BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def flow(value) -> str:
    """A pattern token in the style of our rule files: {LEMMA: sack}, {ORTH: "'s", OP: "?"}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and BARE.match(value) and value.lower() not in YAML_WORDS:
        return value
    return text_scalar(str(value)) if isinstance(value, str) else str(value)


def text_scalar(text: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def yaml_entry(rank_number: int, rule_id: str, candidate: Candidate) -> str:
    examples = candidate.examples or evidence_texts(candidate)[:2]
    lines = [f"# {rank_number}. {scores_line(candidate)}"]
    lines += [f"#    from {origin_line(o)}" for o in candidate.origins[:3]]
    if candidate.example_fires is False:
        lines.append("#    the example does not match in the blank pipeline of tests/test_rules.py: use one that does")
    if any(o.corpus != OUR_CORPUS and o.text in examples for o in candidate.origins):
        lines.append("#    the example comes from the seeds/dev articles: reword it in our own words before committing")
    lines += [f"- id: {rule_id}", f"  relation: {candidate.relation}",
              f"  description: {text_scalar(describe(candidate))}", "  pattern:"]
    lines += [f"    - {flow(token)}" for token in candidate.pattern]
    if candidate.value:
        lines.append(f"  value: {candidate.value}")
    lines.append(f"  examples: [{', '.join(text_scalar(e) for e in examples)}]")
    return "\n".join(lines)


def write_yaml(path: Path, chosen: list[Candidate], ids: list[str]) -> None:
    """The suggestions as rule entries ready to paste into pipeline/rules/<lang>/relations.yml."""
    header = ("# Suggested relation rules (`make suggest-rules`), best first. Nothing here is in use:\n"
              "# paste an entry you accept into pipeline/rules/<lang>/relations.yml (the id says the\n"
              "# language), rename it, reword an example from the seeds/dev articles, then run\n"
              "# `make rules` (its example must match), `make test` and `make evaluate`.\n")
    body = "\n\n".join(yaml_entry(n, rule_id, c) for n, (rule_id, c) in enumerate(zip(ids, chosen), 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + ("\n" + body + "\n" if body else "[]\n"), encoding="utf-8")
    check_written(path, len(chosen))


def check_written(path: Path, expected: int) -> None:
    """The file loads with the rule loader and every entry compiles as a relation rule."""
    entries = load_yaml(path) or []
    if len(entries) != expected:
        raise RuleFileError(f"{path}: wrote {expected} suggestions but {len(entries)} load back")
    for entry in entries:
        compile_rule(entry, str(path))


def report(corpora: list[Corpus], reasons: dict[str, int], chosen: list[Candidate], ids: list[str],
           top: int) -> str:
    missed = sum(len(c.missed) for c in corpora)
    gold = sum(1 for c in corpora for g in c.gold if not g.get("optional"))
    lines = [f"corpora: {', '.join(c.name for c in corpora)}; {gold} required gold triples, {missed} missed:"]
    lines += [f"  {count:4}  {reason}" for reason, count in sorted(reasons.items(), key=lambda r: (-r[1], r[0]))]
    lines.append(f"\n{len(chosen)} suggestions; the first {min(top, len(chosen))}:")
    lines.append(f"{'#':>3} {'prec':>5} {'right':>5} {'wrong':>5} {'neut':>4} {'recov':>5}  rule / pattern")
    for n, (rule_id, c) in enumerate(list(zip(ids, chosen))[:top], 1):
        lines.append(f"{n:3} {c.precision:5.2f} {len(c.right):5} {len(c.wrong):5} {len(c.neutral):4} "
                     f"{len(c.recovered):5}  {rule_id} ({c.level})")
        lines.append(f"{'':30}{render(c.pattern)}")
        lines.append(f"{'':30}from {origin_line(c.origins[0])}")
        lines.append(f"{'':30}\"{shorten(c.origins[0].text)}\"")
    return "\n".join(lines)


def shorten(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- the whole job -------------------------------------------------------------------------------
def suggest(corpora: list[Corpus], scorer, options: Options) -> tuple[list[Candidate], dict[str, int]]:
    """Ranked suggestions for the missed gold of the corpora, and how many misses ended how."""
    evidence, reasons, explained = [], defaultdict(int), set()
    for corpus in corpora:
        docs = {d.user_data.get("article_id"): d for d in corpus.docs}
        missed = {id(g) for g in corpus.missed}
        for index in (i for i, g in enumerate(corpus.gold) if id(g) in missed):
            found, reason = find_evidence(corpus, index, docs, scorer.norm, options.max_evidence)
            if reason:
                reasons[reason] += 1
            else:
                evidence += found
                explained.add((corpus.name, index))
    candidates = generate(evidence, options)
    score_candidates(candidates, corpora, scorer)
    chosen = rank(candidates, options)
    helped = set().union(*(c.recovered for c in chosen))
    recoverable = set().union(*(c.recovered for c in candidates))
    for key in explained:
        if key in helped:
            reasons["recovered by a suggestion"] += 1
        elif key in recoverable:
            reasons["recovered only by candidates below the thresholds"] += 1
        else:
            reasons["named in one sentence, no candidate recovers it"] += 1
    return chosen, {reason: count for reason, count in reasons.items() if count}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = Options()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared folder (seeds, gold, scorer)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "evaluate",
                        help="where the evaluation runs are (reused when up to date; default: %(default)s)")
    parser.add_argument("--yaml", type=Path, default=DEFAULT_YAML, help="suggestions file (default: %(default)s)")
    parser.add_argument("--rerun", action="store_true", help="run the pipeline again even if the runs are up to date")
    parser.add_argument("--reuse", action="store_true",
                        help="use the runs in --out as they are, even if older than the code, rules or articles")
    parser.add_argument("--top", type=int, default=25, help="suggestions printed (all are written to the YAML)")
    parser.add_argument("--min-precision", type=float, default=defaults.min_precision)
    parser.add_argument("--min-support", type=int, default=defaults.min_support,
                        help="gold triples a suggestion must find (default: %(default)s)")
    parser.add_argument("--max-gap", type=int, default=defaults.max_gap,
                        help="longest gap (tokens) between the arguments spelled out word by word")
    parser.add_argument("--max-wildcard", type=int, default=defaults.max_wildcard,
                        help="longest wildcard (tokens) in an anchor pattern")
    parser.add_argument("--per-miss", type=int, default=defaults.per_miss, help="suggestions kept per missed triple")
    parser.add_argument("--no-example-check", action="store_true",
                        help="do not check the examples in the blank pipeline of tests/test_rules.py (saves ~6 s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    score_py = args.shared / "tools" / "score.py"
    if not score_py.exists():
        print(f"error: {score_py} not found: --shared must name the shared folder with the scorer and gold",
              file=sys.stderr)
        return 2
    options = Options(min_precision=args.min_precision, min_support=args.min_support, max_gap=args.max_gap,
                      max_wildcard=args.max_wildcard, per_miss=args.per_miss)
    scorer = rule_report.load_scorer(args.shared)
    try:
        corpora = load_corpora(args.shared, args.out, scorer, rerun=args.rerun, reuse=args.reuse)
        chosen, reasons = suggest(corpora, scorer, options)
        ids = suggestion_ids(chosen)
        if not args.no_example_check:
            check_examples(chosen)
    except (stages.StageError, RuleFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(corpora, reasons, chosen, ids, args.top))
    write_yaml(args.yaml, chosen, ids)
    print(f"\nwrote {len(chosen)} suggestions to {args.yaml} (nothing in {RULES_DIR.relative_to(ROOT)} was changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
