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


# Sorts after the order of any report (article dates are ISO dates or empty).
NEVER = (chr(0x10FFFF),)


class Group:
    """What the summary needs of one (subject, relation, object): its reports are folded
    in one at a time, so memory grows with the distinct values, sources and articles of
    the group, not with its rows."""

    __slots__ = ("first_value", "first_source", "articles", "first_date", "last_date", "statuses", "latest")

    def __init__(self) -> None:
        self.first_value: dict[str, tuple] = {}
        self.first_source: dict[str, tuple] = {}
        self.articles: set[int] = set()
        self.first_date = self.last_date = ""
        self.statuses: set[str] = set()
        self.latest: tuple = ()

    def add(self, row: dict, order: tuple, article: int) -> None:
        """Fold in one report; order is report_order(row), article the article's number."""
        date, value = order[0], order[3]
        if value and order < self.first_value.get(value, NEVER):
            self.first_value[value] = order
        sources = row.get("source")
        if sources:
            self.add_sources(sources, order)
        self.articles.add(article)
        if date:
            self.first_date = min(self.first_date or date, date)
            self.last_date = max(self.last_date, date)
        self.statuses.add(row["status"])
        if not self.latest or order >= self.latest[0]:
            self.latest = (order, row["status"], row["article_id"], row.get("subject_type", ""),
                           row.get("object_type", ""))

    def add_sources(self, sources: str, order: tuple) -> None:
        for source in sources.split(";"):
            source = source.strip()
            if source and order < self.first_source.get(source, NEVER):
                self.first_source[source] = order


class Summary:
    """summary.csv built while the triple rows stream past (add), read at the end (rows)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str], Group] = {}
        self.article_number: dict[str, int] = {}
        self.article_order: list[tuple[str, str]] = []  # (date, id): the order of an article's reports

    def add(self, row: dict) -> None:
        article_id = row["article_id"]
        number = self.article_number.get(article_id)
        if number is None:
            number = self.article_number[article_id] = len(self.article_order)
            self.article_order.append((row.get("article_date") or "", article_id))
        key = (row["subject"], row["relation"], row["object"])
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group()
        group.add(row, report_order(row), number)

    def rows(self) -> list[dict]:
        summary = [summary_row(key, group, self.article_order) for key, group in self.groups.items()]
        return sorted(summary, key=lambda r: (r["subject"].casefold(), r["subject"], r["relation"],
                                              r["object"].casefold(), r["object"]))


def summarise(triples: Iterable[dict]) -> list[dict]:
    """The summary rows for triple rows (dicts with the triples.csv columns), read once."""
    summary = Summary()
    for row in triples:
        summary.add(row)
    return summary.rows()


def summary_row(key: tuple[str, str, str], group: Group, article_order: list[tuple[str, str]]) -> dict:
    """One summary row: values, sources and articles in the order they were first reported."""
    subject, relation, obj = key
    _, latest_status, latest_article, subject_type, object_type = group.latest
    articles = sorted(article_order[i] for i in group.articles)
    return {
        "subject": subject, "subject_type": subject_type, "relation": relation,
        "object": obj, "object_type": object_type,
        "values": ";".join(sorted(group.first_value, key=group.first_value.__getitem__)),
        "first_date": group.first_date, "last_date": group.last_date,
        "n_articles": len(articles),
        "statuses": ";".join([s for s in STATUS_ORDER if s in group.statuses]
                             + sorted(group.statuses - set(STATUS_ORDER))),
        "latest_status": latest_status, "latest_article": latest_article,
        "sources": ";".join(sorted(group.first_source, key=group.first_source.__getitem__)),
        "articles": ";".join(article_id for _, article_id in articles),
    }
