"""summary.csv: what the articles say about each (subject, relation, object) over time.

One row per (subject, relation, object) across all articles: when it was first and last
reported (article dates), in how many articles, which statuses were seen, the status of
the latest report and who reported it. "Latest" orders reports by article date, then
article id, then position in the article; an undated article counts as older than any
dated one. A month-only date (`2025-06`) sorts before the days of that month.
"""
from __future__ import annotations

from typing import Iterable

SUMMARY_COLUMNS = [
    "subject", "subject_type", "relation", "object", "object_type", "values", "first_date", "last_date",
    "n_articles", "statuses", "latest_status", "latest_article", "sources", "articles",
]
STATUS_ORDER = ("fact", "rumour", "denied")


def report_order(row: dict) -> tuple:
    """Chronological order of triple rows: article date, article id, offset."""
    return (row.get("article_date") or "", row["article_id"], int(row.get("start") or 0),
            row.get("value") or "")


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item and item not in seen:
            seen[item] = None
    return list(seen)


def summarise(triples: Iterable[dict]) -> list[dict]:
    """The summary rows for triple rows (dicts with the triples.csv columns)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in triples:
        groups.setdefault((row["subject"], row["relation"], row["object"]), []).append(row)
    summary = []
    for (subject, relation, obj), rows in groups.items():
        rows = sorted(rows, key=report_order)
        dates = [r["article_date"] for r in rows if r.get("article_date")]
        latest = rows[-1]
        statuses = {r["status"] for r in rows}
        summary.append({
            "subject": subject, "subject_type": latest.get("subject_type", ""),
            "relation": relation,
            "object": obj, "object_type": latest.get("object_type", ""),
            "values": ";".join(_unique(r.get("value", "") for r in rows)),
            "first_date": min(dates) if dates else "", "last_date": max(dates) if dates else "",
            "n_articles": len({r["article_id"] for r in rows}),
            "statuses": ";".join([s for s in STATUS_ORDER if s in statuses]
                                 + sorted(statuses - set(STATUS_ORDER))),
            "latest_status": latest["status"], "latest_article": latest["article_id"],
            "sources": ";".join(_unique(s.strip() for r in rows for s in (r.get("source") or "").split(";"))),
            "articles": ";".join(_unique(r["article_id"] for r in rows)),
        })
    return sorted(summary, key=lambda r: (r["subject"].casefold(), r["subject"], r["relation"],
                                          r["object"].casefold(), r["object"]))
