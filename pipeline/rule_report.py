"""Per-rule analysis over gold corpora, in the spirit of Snorkel's labelling-function summary.

For every rule: how many triples it produced, how many of those are right (match a
required gold triple), neutral (match an optional one) or wrong, its precision, and how
often it overlaps or conflicts with other rules (the same subject and object given the
same or another relation in the same article). Beside it, what a rule edit gained and
lost since the previous evaluation. Matching is the contract scorer's own
(`../shared/tools/score.py`), loaded as a module.
"""
from __future__ import annotations

import csv
import importlib.util
from collections import defaultdict
from pathlib import Path


def load_scorer(shared: Path):
    spec = importlib.util.spec_from_file_location("contract_score", shared / "tools" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def judge(rows: list[dict], gold_paths: list[Path], scorer) -> list[str]:
    """right / neutral / wrong for each predicted row of a scored article ('' if unscored)."""
    gold, articles, _ = scorer.load_gold([str(p) for p in gold_paths])
    required = [g for g in gold if not g.get("optional")]
    optional = [g for g in gold if g.get("optional")]
    verdicts = []
    for row in rows:
        if row["article_id"] not in articles:
            verdicts.append("")
        elif any(scorer.matches(g, row) for g in required):
            verdicts.append("right")
        elif any(scorer.matches(g, row) for g in optional):
            verdicts.append("neutral")
        else:
            verdicts.append("wrong")
    return verdicts


def rule_table(rows: list[dict], verdicts: list[str]) -> str:
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_pair: dict[tuple, set[tuple[str, str]]] = defaultdict(set)
    for row, verdict in zip(rows, verdicts):
        if not verdict:
            continue
        rule = row["rule"]
        stats[rule]["fires"] += 1
        stats[rule][verdict] += 1
        by_pair[(row["article_id"], row["subject"], row["object"])].add((rule, row["relation"]))
    for found in by_pair.values():
        for rule, relation in found:
            others = {r for r, rel in found if r != rule}
            conflicting = {r for r, rel in found if r != rule and rel != relation}
            stats[rule]["overlaps"] += bool(others)
            stats[rule]["conflicts"] += bool(conflicting)
    lines = [f"{'rule':44} {'fires':>5} {'right':>5} {'neut':>5} {'wrong':>5} {'prec':>6} {'ovl':>4} {'confl':>5}"]
    for rule in sorted(stats, key=lambda r: (-stats[r]["wrong"], r)):
        s = stats[rule]
        judged = s["right"] + s["wrong"]
        precision = f"{s['right'] / judged:6.3f}" if judged else "     -"
        lines.append(f"{rule:44} {s['fires']:5} {s['right']:5} {s['neutral']:5} {s['wrong']:5} {precision} "
                     f"{s['overlaps']:4} {s['conflicts']:5}")
    return "\n".join(lines)


def key(row: dict) -> tuple:
    return (row["article_id"], row["subject"], row["relation"], row["object"], row.get("value", ""))


def changes(previous: list[dict], current: list[dict], verdicts: list[str]) -> str:
    """Triples gained and lost since the previous evaluation, each marked right/wrong."""
    before = {key(r) for r in previous}
    now = {key(r): v for r, v in zip(current, verdicts) if v}
    gained = sorted(k for k in now if k not in before)
    lost = sorted(k for k in before if k not in now)
    lines = [f"since the previous evaluation: {len(gained)} gained, {len(lost)} lost"]
    lines += [f"  + [{now[k]:7}] {k[0]}: {k[1]} -{k[2]}-> {k[3]} {k[4]}".rstrip() for k in gained]
    lines += [f"  - {k[0]}: {k[1]} -{k[2]}-> {k[3]} {k[4]}".rstrip() for k in lost]
    return "\n".join(lines)
