"""report.html: one self-contained page to review a run (no network, no CDN).

- a summary: a chart of rumours per club over time and the summary.csv table;
- every triple in one table, filterable by relation, status, language, club and coach
  (plain JavaScript; the filters can be set from the address, e.g.
  `report.html#relation=sacked_by&status=rumour`);
- per article: its text with the entities highlighted (displaCy style, a colour per
  type) and its triples, each linking to its evidence in the text.

Every piece of article or run data goes through html.escape; the page's only script and
style are the constants below, pinned by hash in a Content-Security-Policy, so even a
missed escape could not run a script. Same input, same bytes: nothing depends on the
clock, the machine or set order.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
from dataclasses import dataclass
from html import escape

TYPE_COLOURS = {  # displaCy's palette where it has the type
    "COACH": "#aa9cfc", "PLAYER": "#bfe1d9", "PERSON": "#feca74", "CLUB": "#7aecec",
    "MEDIA": "#ffeb80", "COMPETITION": "#e4e7d2",
}
OTHER_COLOUR = "#dddddd"
FILTERS = ("relation", "status", "language", "club", "coach")
CHART_TOP_CLUBS = 15

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 48px;color:#222}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:22px 0 4px}nav a{margin-right:14px}.muted{color:#666}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6;position:sticky;top:0;z-index:1}td.nw{white-space:nowrap}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee}tr[hidden]{display:none}
.st{border-radius:3px;padding:0 5px;font-size:12px}.st-fact{background:#d6f5d6}.st-rumour{background:#fff1c2}.st-denied{background:#f8d0d0}
.filters{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0}.filters label{font-size:12px;color:#555}.filters select{display:block;max-width:220px}
.evtext{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;max-width:420px}
.article{border:1px solid #e3e3e3;border-radius:6px;padding:4px 14px 10px;margin:14px 0}
.text{white-space:pre-wrap;line-height:2.1;background:#fcfcfc;padding:8px 10px;border-radius:4px}
mark.ent{padding:2px 3px;border-radius:4px;color:inherit}mark.ent[data-label]::after{content:attr(data-label);font-size:9px;font-weight:700;margin-left:4px;vertical-align:middle;text-transform:uppercase}
.ev.hl{background:#ffe58a;box-shadow:0 0 0 2px #ffe58a}.legend mark{margin-right:6px}
svg text{font-size:11px;fill:#333}svg .grid{stroke:#eee}svg circle{fill:#e8a317;fill-opacity:.75}
""".strip() + "\n" + "".join(f".t-{t}{{background:{c}}}" for t, c in TYPE_COLOURS.items()) + \
    f".t-other{{background:{OTHER_COLOUR}}}"

SCRIPT = """
(function(){
var F=["relation","status","language","club","coach"];
var table=document.getElementById("triples-table");
if(!table)return;
var rows=Array.prototype.slice.call(table.tBodies[0].rows);
var count=document.getElementById("triples-count");
var sel={};F.forEach(function(f){sel[f]=document.getElementById("f-"+f);});
function apply(){var n=0;rows.forEach(function(r){var ok=F.every(function(f){var v=sel[f].value;if(!v)return true;
return (r.getAttribute("data-"+f)||"").split("|").indexOf(v)>=0;});r.hidden=!ok;if(ok)n++;});
count.textContent=n+" of "+rows.length+" triples shown";table.setAttribute("data-visible",String(n));}
function params(){var h=location.hash.slice(1);return new URLSearchParams(h.indexOf("=")>=0?h:location.search.slice(1));}
function fromAddress(){var p=params();F.forEach(function(f){var v=p.get(f)||"";if(v&&!Array.prototype.some.call(sel[f].options,function(o){return o.value===v;})){
var o=document.createElement("option");o.value=v;o.textContent=v;sel[f].appendChild(o);}sel[f].value=v;});apply();}
function toAddress(){var p=new URLSearchParams();F.forEach(function(f){if(sel[f].value)p.set(f,sel[f].value);});
try{history.replaceState(null,"",p.toString()?"#"+p.toString():location.pathname+location.search);}catch(e){}}
function highlight(){Array.prototype.forEach.call(document.querySelectorAll(".ev.hl"),function(e){e.classList.remove("hl");});
var h=location.hash.slice(1);if(!/^ev-[0-9]+-[0-9]+-[0-9]+$/.test(h))return;
Array.prototype.forEach.call(document.querySelectorAll('[data-ev~="'+h+'"]'),function(e){e.classList.add("hl");});}
F.forEach(function(f){sel[f].addEventListener("change",function(){toAddress();apply();});});
document.getElementById("f-reset").addEventListener("click",function(){F.forEach(function(f){sel[f].value="";});toAddress();apply();});
window.addEventListener("hashchange",function(){if(location.hash.indexOf("=")>=0)fromAddress();highlight();});
fromAddress();highlight();
})();
""".strip()


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def esc(value) -> str:
    return _escape(value if type(value) is str else "" if value is None else str(value))


@functools.lru_cache(maxsize=4096)
def _escape(text: str) -> str:
    """html.escape, remembered: a page repeats the same names, relations and dates many times."""
    return escape(text, quote=True)


def type_class(entity_type: str) -> str:
    return f"t-{entity_type}" if entity_type in TYPE_COLOURS else "t-other"


def evidence_id(article_index: int, start: int, end: int) -> str:
    return f"ev-{article_index}-{start}-{end}"


def _int(value, default: int = -1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def valid_entities(text: str, entities: list[dict]) -> list[tuple[int, int, dict]]:
    """Entities whose offsets fit the text (and say the same words), without overlaps."""
    spans = []
    for ent in entities:
        start, end = _int(ent.get("start")), _int(ent.get("end"))
        if 0 <= start < end <= len(text) and (not ent.get("text") or text[start:end] == ent["text"]):
            spans.append((start, end, ent))
    spans.sort(key=lambda s: (s[0], -s[1]))
    kept, last_end = [], 0
    for span in spans:
        if span[0] >= last_end:
            kept.append(span)
            last_end = span[1]
    return kept


def render_text(text: str, entities: list[dict], evidences: list[tuple[int, int]], article_index: int) -> str:
    """The article text as HTML: entity marks, and evidence spans with an anchor at each start.

    The text is cut at every entity and evidence boundary; each piece is escaped, wrapped
    in its entity's <mark> (the type label, drawn by CSS, on the entity's last piece) and
    in a span naming every evidence that covers it, so a link can highlight its evidence.
    """
    ents = valid_entities(text, entities)
    evs = sorted({(s, e) for s, e in evidences if 0 <= s < e <= len(text)})
    bounds = sorted({0, len(text)} | {b for s, e, _ in ents for b in (s, e)} | {b for ev in evs for b in ev})
    ids = {ev: evidence_id(article_index, *ev) for ev in evs}
    starts: dict[int, list[tuple[int, int]]] = {}
    for ev in evs:
        starts.setdefault(ev[0], []).append(ev)
    ends = {e for _, e in evs}
    out, ent_i, covering, data_ev = [], 0, [], ""
    for a, b in zip(bounds, bounds[1:]):
        opened = starts.get(a, [])
        if opened:
            out += [f'<span class="anchor" id="{ids[ev]}"></span>' for ev in opened]
        if opened or a in ends:  # every evidence boundary is a bound: a piece is in or out of each
            covering = [ev for ev in covering if ev[1] > a] + opened
            data_ev = " ".join(ids[ev] for ev in covering)
        piece = escape(text[a:b], quote=True)
        while ent_i < len(ents) and ents[ent_i][1] <= a:
            ent_i += 1
        if ent_i < len(ents) and ents[ent_i][0] <= a and b <= ents[ent_i][1]:
            piece = entity_mark(piece, ents[ent_i][2], last=b == ents[ent_i][1])
        if data_ev:
            piece = f'<span class="ev" data-ev="{data_ev}">{piece}</span>'
        out.append(piece)
    return "".join(out)


def entity_mark(piece: str, ent: dict, last: bool) -> str:
    """A piece of an entity's text in its <mark>; the type label goes on its last piece."""
    kind = ent.get("type", "")
    label = f' data-label="{esc(kind)}"' if last else ""
    title = " · ".join(x for x in (ent.get("canonical", ""), kind, ent.get("entity_id", ""),
                                   ent.get("component", "")) if x)
    return f'<mark class="ent {type_class(kind)}" title="{esc(title)}"{label}>{piece}</mark>'


def status_badge(status: str) -> str:
    kind = status if status in ("fact", "rumour", "denied") else "other"
    return f'<span class="st st-{kind}">{esc(status)}</span>'


def clubs_and_coaches(row: dict) -> tuple[list[str], list[str]]:
    clubs, coaches = [], []
    for name_key, type_key in (("subject", "subject_type"), ("object", "object_type")):
        if row.get(type_key) == "CLUB":
            clubs.append(row[name_key])
        elif row.get(type_key) == "COACH":
            coaches.append(row[name_key])
    return clubs, coaches


def _period(date: str, by_year: bool) -> str | None:
    match = re.match(r"(\d{4})-(\d{2})", date or "")
    if not match:
        return None
    return match.group(1) if by_year else f"{match.group(1)}-{match.group(2)}"


def _periods(first: str, last: str, by_year: bool) -> list[str]:
    if by_year:
        return [str(y) for y in range(int(first), int(last) + 1)]
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def rumour_chart(triples: list[dict]) -> str:
    """An inline SVG dot chart: rumours per club (rows) per month or year (columns)."""
    dated = [(r, c) for r in triples if r.get("status") == "rumour"
             for c in clubs_and_coaches(r)[0] if _period(r.get("article_date", ""), False)]
    if not dated:
        return '<p class="muted">No dated rumours about clubs.</p>'
    months = sorted({_period(r["article_date"], False) for r, _ in dated})
    by_year = len(_periods(months[0], months[-1], False)) > 48
    counts: dict[tuple[str, str], int] = {}
    totals: dict[str, int] = {}
    for row, club in dated:
        key = (club, _period(row["article_date"], by_year))
        counts[key] = counts.get(key, 0) + 1
        totals[club] = totals.get(club, 0) + 1
    clubs = sorted(totals, key=lambda c: (-totals[c], c))[:CHART_TOP_CLUBS]
    periods = _periods(_period(months[0], by_year), _period(months[-1], by_year), by_year)
    left, top, row_h, bottom = 170, 12, 22, 58
    col = max(16, min(48, 640 // len(periods)))
    width, height = left + col * len(periods) + 12, top + row_h * len(clubs) + bottom
    biggest = max(counts[(c, p)] for c, p in counts if c in clubs)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" id="rumour-chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>Rumours per club over time</title>']
    for i, club in enumerate(clubs):
        y = top + row_h * i + row_h / 2
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 12}" y2="{y:.1f}"/>'
                     f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{esc(club)} ({totals[club]})</text>')
    axis_y = top + row_h * len(clubs) + 6
    step = max(1, math.ceil(len(periods) / 40))
    for j, period in enumerate(periods):
        x = left + col * j + col / 2
        if j % step == 0:
            parts.append(f'<text x="{x:.1f}" y="{axis_y}" transform="rotate(-60 {x:.1f} {axis_y})" '
                         f'text-anchor="end">{esc(period)}</text>')
        for i, club in enumerate(clubs):
            n = counts.get((club, period), 0)
            if n:
                y = top + row_h * i + row_h / 2
                r = 2.5 + 7.0 * math.sqrt(n / biggest)
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" data-club="{esc(club)}" '
                             f'data-period="{esc(period)}" data-count="{n}"><title>{esc(club)}, {esc(period)}: '
                             f'{n} rumour{"s" if n != 1 else ""}</title></circle>')
    parts.append("</svg>")
    note = (f'<p class="muted">Rumour triples per club and {"year" if by_year else "month"} of the article date '
            f'(top {len(clubs)} of {len(totals)} clubs; undated articles left out).</p>')
    return note + "".join(parts)


def _table(headers: list[str], body: list[str], attrs: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return "".join([f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>", *body, "</tbody></table>"])


def _td(value, nowrap: bool = False) -> str:
    return ('<td class="nw">' if nowrap else "<td>") + esc(value) + "</td>"


def render_report(manifest: list[dict], texts: dict[str, str], entities: list[dict], triples: list[dict],
                  summary: list[dict], title: str = "calcio-triples review", note: str = "") -> str:
    """The whole page. manifest: articles.csv rows; texts: article id -> text;
    entities, triples, summary: rows of entities.csv, triples.csv, summary.csv; note: a
    line under the figures (e.g. that only part of a big run is shown)."""
    page = Page.create(manifest, texts, entities, triples)
    csp = (f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; style-src {_csp_hash(STYLE)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>"
        f"<h1>{esc(title)}</h1><p class=\"muted\" id=\"stats\">{esc(page_stats(page, summary, note))}</p>"
        '<nav><a href="#summary">Summary</a><a href="#triples">All triples</a><a href="#articles">Articles</a></nav>\n'
        f"{summary_section(triples, summary)}\n{triples_section(page)}\n{articles_section(page)}\n"
        f"<script>{SCRIPT}</script></body></html>\n")


@dataclass
class Page:
    """What the sections of one page share: the articles in order with their numbers (an
    article's section is `#a<number>`), their texts, and their entities and triples."""

    manifest: list[dict]
    texts: dict[str, str]
    triples: list[dict]
    index: dict[str, int]
    triples_by_article: dict[str, list[dict]]
    entities_by_article: dict[str, list[dict]]

    @classmethod
    def create(cls, manifest: list[dict], texts: dict[str, str], entities: list[dict],
               triples: list[dict]) -> Page:
        manifest = sorted(manifest, key=lambda r: r["article_id"])
        index = {row["article_id"]: i for i, row in enumerate(manifest, 1)}
        for row in triples:  # triples of an article the manifest lacks still get a section
            index.setdefault(row["article_id"], len(index) + 1)
        by_article: dict[str, list[dict]] = {}
        for row in triples:
            by_article.setdefault(row["article_id"], []).append(row)
        ents_by_article: dict[str, list[dict]] = {}
        for ent in entities:
            ents_by_article.setdefault(ent.get("article_id", ""), []).append(ent)
        return cls(manifest, texts, triples, index, by_article, ents_by_article)

    def evidence_link(self, row: dict, label: str | None = None) -> str:
        """The evidence (or label), linked to its place in the article's text when it has one."""
        article_id = row["article_id"]
        start, end = _int(row.get("start")), _int(row.get("end"))
        shown = esc(label if label is not None else row.get("evidence", ""))
        if article_id in self.index and 0 <= start < end <= len(self.texts.get(article_id, "")):
            return f'<a class="evtext" href="#{evidence_id(self.index[article_id], start, end)}">{shown}</a>'
        return f'<span class="evtext">{shown}</span>'


def page_stats(page: Page, summary: list[dict], note: str) -> str:
    statuses: dict[str, int] = {}
    for row in page.triples:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    n_ok = sum(1 for r in page.manifest if r.get("status") == "ok")
    return (f"{len(page.manifest)} articles ({n_ok} ok, {len(page.manifest) - n_ok} skipped or failed) · "
            f"{len(page.triples)} triples (" + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + ")"
            f" · {len(summary)} distinct (subject, relation, object)" + (f" · {note}" if note else ""))


def triples_section(page: Page) -> str:
    """Every triple in one table, with the values each filter offers."""
    options: dict[str, set[str]] = {f: set() for f in FILTERS}
    rows_html = [triple_row(page, row, options) for row in page.triples]
    selects = "".join(
        f'<label>{esc(f)}<select id="f-{f}"><option value="">all</option>'
        + "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted(options[f], key=lambda v: (v.casefold(), v)))
        + "</select></label>" for f in FILTERS)
    count = len(page.triples)
    return "".join([
        f'<section id="triples"><h2>All triples</h2><div class="filters">{selects}'
        f'<label>&nbsp;<button type="button" id="f-reset">show all</button></label></div>'
        f'<p id="triples-count" class="muted">{count} triples</p><div class="scroll">',
        _table(["article", "date", "lang", "subject", "relation", "object", "value", "status", "source",
                "conf.", "evidence"], rows_html, f' id="triples-table" data-visible="{count}"'),
        "</div></section>"])


def triple_row(page: Page, row: dict, options: dict[str, set[str]]) -> str:
    """A row of the triples table, its filter values in data- attributes (added to options)."""
    clubs, coaches = clubs_and_coaches(row)
    values = ([row["relation"]], [row["status"]], [row.get("language", "")], clubs, coaches)
    data = []
    for f, found in zip(FILTERS, values):
        options[f].update(filter(None, found))
        data.append(f' data-{f}="{esc("|".join(found))}"')
    aid = row["article_id"]
    return (f"<tr{''.join(data)}><td><a href=\"#a{page.index[aid]}\">{esc(aid)}</a></td>"
            f"{_td(row.get('article_date', ''), True)}"
            f"{_td(row.get('language', ''))}{_td(row['subject'])}{_td(row['relation'])}{_td(row['object'])}"
            f"{_td(row.get('value', ''))}<td>{status_badge(row['status'])}</td>{_td(row.get('source', ''))}"
            f"{_td(row.get('confidence', ''))}<td>{page.evidence_link(row)}</td></tr>")


def summary_section(triples: list[dict], summary: list[dict]) -> str:
    """The rumour chart and the summary.csv table."""
    summary_rows = [
        f"<tr>{_td(r['subject'])}{_td(r['relation'])}{_td(r['object'])}{_td(r.get('values', ''))}"
        f"{_td(r.get('first_date', ''), True)}{_td(r.get('last_date', ''), True)}{_td(r.get('n_articles', ''))}"
        f"{_td(r.get('statuses', ''))}<td>{status_badge(r.get('latest_status', ''))}</td>{_td(r.get('sources', ''))}</tr>"
        for r in summary]
    return (
        '<section id="summary"><h2>Summary</h2><h3>Rumours per club over time</h3>' + rumour_chart(triples)
        + '<h3>Every (subject, relation, object) across articles</h3><div class="scroll">'
        + _table(["subject", "relation", "object", "values", "first date", "last date", "articles", "statuses",
                  "latest status", "sources"], summary_rows, ' id="summary-table"') + "</div></section>")


def articles_section(page: Page) -> str:
    """The table of articles, then each article: its text with entities and evidence, its triples."""
    index_rows = [article_index_row(row, page.index[row["article_id"]], page.texts.get(row["article_id"], ""))
                  for row in page.manifest]
    legend = "".join(f'<mark class="ent {type_class(t)}">{esc(t)}</mark>' for t in TYPE_COLOURS)
    meta_by_id = {row["article_id"]: row for row in page.manifest}
    sections = [article_section(page, meta_by_id.get(aid, {"article_id": aid}), i)
                for aid, i in sorted(page.index.items(), key=lambda item: item[1])]
    return "".join([
        '<section id="articles"><h2>Articles</h2>',
        _table(["article", "date", "lang", "status", "entities", "triples", "first line"], index_rows,
               ' id="articles-table"'),
        f'<p class="legend">Entity types: {legend}</p>', *sections, "</section>"])


def article_index_row(row: dict, i: int, text: str) -> str:
    headline = next((line.strip() for line in text.splitlines() if line.strip()), "")[:120]
    return (f"<tr><td><a href=\"#a{i}\">{esc(row['article_id'])}</a></td>{_td(row.get('date', ''), True)}"
            f"{_td(row.get('language', ''))}{_td(row.get('status', ''))}{_td(row.get('n_entities', ''))}"
            f"{_td(row.get('n_triples', ''))}{_td(headline)}</tr>")


def article_section(page: Page, meta: dict, i: int) -> str:
    aid = meta["article_id"]
    text = page.texts.get(aid, "")
    rows = page.triples_by_article.get(aid, [])
    body = (f'<div class="text" id="text-a{i}">'
            + render_text(text, page.entities_by_article.get(aid, []),
                          [(_int(r.get("start")), _int(r.get("end"))) for r in rows], i) + "</div>"
            if text else '<p class="muted">No text (not processed).</p>')
    triple_rows = [
        f"<tr>{_td(r['subject'])}{_td(r['relation'])}{_td(r['object'])}{_td(r.get('value', ''))}"
        f"<td>{status_badge(r['status'])}</td>{_td(r.get('source', ''))}{_td(r.get('confidence', ''))}"
        f"{_td(r.get('rule', ''))}<td>{page.evidence_link(r, 'evidence ' + str(r.get('start')) + '–' + str(r.get('end')))}</td></tr>"
        for r in rows]
    return (
        f'<section class="article" id="a{i}"><h3>{esc(aid)}</h3><p class="muted">'
        f"date {esc(meta.get('date', '') or '—')} · language {esc(meta.get('language', '') or '—')} · "
        f"status {esc(meta.get('status', '') or '—')} · {len(rows)} triples · "
        f"source file {esc(meta.get('path', ''))}</p>{body}"
        + (_table(["subject", "relation", "object", "value", "status", "source", "conf.", "rule", "evidence"],
                  triple_rows, ' class="article-triples"') if rows else "")
        + "</section>")
