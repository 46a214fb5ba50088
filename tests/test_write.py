import csv

import pandas as pd

from pipeline.write import TRIPLE_COLUMNS, excel_safe, write_csv

ROW = {"article_id": "en/a", "subject": "=HYPERLINK(\"x\")", "relation": "coach_of", "object": "AC Milan",
       "evidence": "Line one,\n\"quoted\" line two", "start": 0, "end": 35, "confidence": "0.90",
       "value": "-1"}


def test_formula_cells_are_neutralised_but_numbers_kept():
    assert excel_safe("subject", "=1+1") == "'=1+1"
    assert excel_safe("subject", "@handle") == "'@handle"
    assert excel_safe("confidence", "0.75") == "0.75"
    assert excel_safe("value", "-1") == "-1"


def test_csv_round_trips_through_pandas_and_csv_module(tmp_path):
    path = tmp_path / "triples.csv"
    write_csv(path, TRIPLE_COLUMNS, [ROW])
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    frame = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert list(frame.columns) == TRIPLE_COLUMNS
    assert rows[0]["evidence"] == frame.loc[0, "evidence"] == ROW["evidence"]
    assert rows[0]["subject"].startswith("'=")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_bom_can_be_turned_off(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, TRIPLE_COLUMNS, [], bom=False)
    assert path.read_bytes().startswith(b"article_id,")
