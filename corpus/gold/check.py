#!/usr/bin/env python3
"""Check the sample corpus gold files (standard library only).

    python3 corpus/gold/check.py

Verifies that every line of gold/triples.jsonl and gold/entities.jsonl parses and is
well formed, that every entity text occurs at least `occurrence` times in its article,
that every article file under corpus/{en,it,other}/ has gold (and every gold article a
file), and prints counts per relation, status, language and entity label.
Exit status 1 if anything is wrong.
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent
GOLD = CORPUS / "gold" / "triples.jsonl"
ENTITIES = CORPUS / "gold" / "entities.jsonl"
FOLDERS = ("en", "it", "other")

RELATIONS = {"coach_of", "former_coach_of", "linked_to", "joins", "leaves", "sacked_by",
             "replaces", "contract_until", "contract_length", "transfer_target", "president_of"}
STATUSES = {"fact", "rumour", "denied"}
LABELS = {"PER", "CLUB", "MEDIA"}
TRIPLE_KEYS = {"article", "language", "subject", "relation", "object", "value", "status",
               "source", "optional"}
VALUE_FORMAT = {
    "contract_until": re.compile(r"\d{4}(-\d{2}-\d{2})?"),
    "contract_length": re.compile(r"[1-9]\d?"),
    "former_coach_of": re.compile(r"\d{4}(/\d{4})?"),
}
HEADER = re.compile(r"^ ?date (\d{4}-\d{2}(?:-\d{2})?)(?: |\n|$)")

errors = []


def error(message):
    errors.append(message)


def load_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                error(f"{path.name}:{number}: not JSON: {exc}")
    return rows


def nth_find(text, needle, n):
    """Offset of the n-th (1-based) non-overlapping occurrence of needle, or -1."""
    pos, found = 0, -1
    for _ in range(n):
        found = text.find(needle, pos)
        if found < 0:
            return -1
        pos = found + len(needle)
    return found


def names_ok(value):
    return isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)


def main():
    files = {}
    for folder in FOLDERS:
        for path in sorted((CORPUS / folder).glob("*.txt")):
            files[f"{folder}/{path.stem}"] = path.read_text(encoding="utf-8")

    # ---- triples
    triples, no_triples, keys = [], set(), set()
    for number, row in load_jsonl(GOLD):
        where = f"triples.jsonl:{number}"
        article = row.get("article")
        if article not in files:
            error(f"{where}: no article file for {article!r}")
        if row.get("no_triples"):
            if set(row) - {"article", "language", "no_triples"}:
                error(f"{where}: no_triples line with extra keys")
            no_triples.add(article)
            continue
        if set(row) != TRIPLE_KEYS:
            error(f"{where}: keys {sorted(row)} != {sorted(TRIPLE_KEYS)}")
            continue
        if row["language"] not in ("en", "it") or not article.startswith(row["language"] + "/"):
            error(f"{where}: language {row['language']!r} does not fit {article}")
        if row["relation"] not in RELATIONS:
            error(f"{where}: unknown relation {row['relation']!r}")
        if row["status"] not in STATUSES:
            error(f"{where}: unknown status {row['status']!r}")
        if not names_ok(row["subject"]) or not names_ok(row["object"]):
            error(f"{where}: subject/object must be non-empty lists of names")
            continue
        if not isinstance(row["source"], list) or not all(isinstance(s, str) for s in row["source"]):
            error(f"{where}: source must be a list of names")
        if not isinstance(row["optional"], bool):
            error(f"{where}: optional must be true or false")
        value, relation = row["value"], row["relation"]
        if relation in ("contract_until", "contract_length"):
            if not isinstance(value, str) or not VALUE_FORMAT[relation].fullmatch(value):
                error(f"{where}: bad value {value!r} for {relation}")
        elif relation == "former_coach_of":
            if value is not None and not (isinstance(value, str) and VALUE_FORMAT[relation].fullmatch(value)):
                error(f"{where}: bad period {value!r}")
        elif value is not None:
            error(f"{where}: {relation} takes no value")
        if relation in ("linked_to", "transfer_target") and row["status"] == "fact":
            error(f"{where}: {relation} is rumour or denied by convention")
        key = (article, row["subject"][0], relation, row["object"][0], value)
        if key in keys:
            error(f"{where}: duplicate triple {key}")
        keys.add(key)
        triples.append(row)
    with_triples = {t["article"] for t in triples}
    for article in sorted(no_triples & with_triples):
        error(f"{article}: marked no_triples but has triples")
    for article in sorted(set(files) - with_triples - no_triples):
        error(f"{article}: article file without gold")

    # ---- entities
    entities = []
    seen = set()
    for number, row in load_jsonl(ENTITIES):
        where = f"entities.jsonl:{number}"
        if set(row) != {"article", "text", "label", "occurrence"}:
            error(f"{where}: keys {sorted(row)}")
            continue
        text = files.get(row["article"])
        if text is None:
            error(f"{where}: no article file for {row['article']!r}")
            continue
        if row["label"] not in LABELS:
            error(f"{where}: unknown label {row['label']!r}")
        occurrence = row["occurrence"]
        if not isinstance(occurrence, int) or occurrence < 1:
            error(f"{where}: occurrence must be a positive integer")
            continue
        if nth_find(text, row["text"], occurrence) < 0:
            error(f"{where}: {row['text']!r} occurs fewer than {occurrence} times in {row['article']}")
        key = (row["article"], row["text"], occurrence)
        if key in seen:
            error(f"{where}: duplicate mention {key}")
        seen.add(key)
        entities.append(row)
    for article in sorted(set(files) - {e["article"] for e in entities}):
        error(f"{article}: article file without entity annotations")

    # ---- article files: header and length
    headers = Counter()
    for article, text in files.items():
        match = HEADER.match(text)
        if match:
            rest = text[match.end():]
            headers["same line" if text[match.end() - 1] == " " and not rest.startswith("\n") else "own line"] += 1
            headers["day precision" if len(match.group(1)) == 10 else "month precision"] += 1
        else:
            headers["no header"] += 1
            rest = text
        if text.lstrip().startswith("date") and not match:
            error(f"{article}: malformed date header")
        words = len(rest.split())
        if not 150 <= words <= 350:
            error(f"{article}: {words} words (expected 150-350)")

    # ---- report
    def table(title, counter):
        print(f"\n{title}")
        for key, count in sorted(counter.items()):
            print(f"  {key:24} {count:5}")

    required = [t for t in triples if not t["optional"]]
    optional = [t for t in triples if t["optional"]]
    per_folder = ", ".join(f"{f}: {sum(a.startswith(f + '/') for a in files)}" for f in FOLDERS)
    print(f"articles: {len(files)} ({per_folder})")
    print(f"gold triples: {len(triples)} ({len(required)} required, {len(optional)} optional); "
          f"no_triples articles: {len(no_triples)}; entity mentions: {len(entities)}")
    table("required triples per relation", Counter(t["relation"] for t in required))
    table("required triples per status", Counter(t["status"] for t in required))
    table("required triples per language", Counter(t["language"] for t in required))
    table("required triples per language x relation",
          Counter(f"{t['language']} {t['relation']}" for t in required))
    table("required triples per language x status",
          Counter(f"{t['language']} {t['status']}" for t in required))
    table("optional triples per relation", Counter(t["relation"] for t in optional))
    print(f"\nrequired triples with a source: {sum(bool(t['source']) for t in required)}")
    table("entity mentions per label", Counter(e["label"] for e in entities))
    table("date headers", headers)

    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for message in errors:
            print("  " + message, file=sys.stderr)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
