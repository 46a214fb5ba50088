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
    """The summary rows for triple rows (dicts with the triples.csv columns).

    Rows are read once; each group keeps only the few fields the summary shows, so a run
    of millions of triples is summarised without holding its rows.
    """
    groups: dict[tuple[str, str, str], list[tuple]] = {}
    for row in triples:
        groups.setdefault((row["subject"], row["relation"], row["object"]), []).append(
            (report_order(row), row.get("value", ""), row["status"], row.get("source") or "", row["article_id"],
             row.get("article_date") or "", row.get("subject_type", ""), row.get("object_type", "")))
    summary = [summary_row(key, sorted(reports, key=lambda r: r[0])) for key, reports in groups.items()]
    return sorted(summary, key=lambda r: (r["subject"].casefold(), r["subject"], r["relation"],
                                          r["object"].casefold(), r["object"]))


def summary_row(key: tuple[str, str, str], reports: list[tuple]) -> dict:
    """One summary row from a group's reports (order, value, status, source, article, date,
    subject type, object type), in report order."""
    subject, relation, obj = key
    dates = [r[5] for r in reports if r[5]]
    latest = reports[-1]
    statuses = {r[2] for r in reports}
    return {
        "subject": subject, "subject_type": latest[6], "relation": relation,
        "object": obj, "object_type": latest[7],
        "values": ";".join(_unique(r[1] for r in reports)),
        "first_date": min(dates) if dates else "", "last_date": max(dates) if dates else "",
        "n_articles": len({r[4] for r in reports}),
        "statuses": ";".join([s for s in STATUS_ORDER if s in statuses] + sorted(statuses - set(STATUS_ORDER))),
        "latest_status": latest[2], "latest_article": latest[4],
        "sources": ";".join(_unique(s.strip() for r in reports for s in r[3].split(";"))),
        "articles": ";".join(_unique(r[4] for r in reports)),
    }
