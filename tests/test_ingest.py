from pathlib import Path

from pipeline.ingest import article_id_for, decode, find_articles, ingest, read_article, split_date_header

ARTICLE = "Juventus have confirmed the appointment of their new head coach on a two-year deal."


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def test_date_header_on_same_line_is_split_off():
    date, text, warning = split_date_header(" date 2026-03-04 Following the defeat, Milan acted.")
    assert (date, text, warning) == ("2026-03-04", "Following the defeat, Milan acted.", None)


def test_date_header_followed_by_newline_keeps_month_precision():
    date, text, _ = split_date_header("date 2024-11\nDove andrà Allegri?")
    assert date == "2024-11" and text == "Dove andrà Allegri?"


def test_malformed_dates_are_dropped_with_a_warning():
    for header in ("date 2026-13-45 Testo", "date soon Testo", "date 2023-02-30 Testo"):
        date, text, warning = split_date_header(header)
        assert date == "" and text == "Testo" and "malformed" in warning


def test_no_header_leaves_text_untouched():
    assert split_date_header("Conte is ready to leave.") == ("", "Conte is ready to leave.", None)


def test_legacy_encoding_is_decoded_with_a_warning(tmp_path):
    path = write(tmp_path / "old.txt", "Il tecnico è già pronto: contratto fino al 2027.".encode("cp1252"))
    article = read_article(path, tmp_path)
    assert article.ok and "è già" in article.text and article.encoding == "cp1252"
    assert any("not UTF-8" in w for w in article.warnings)


def test_utf16_and_bom_are_decoded():
    assert decode("Perez".encode("utf-16"))[0] == "Perez"
    assert decode("\ufeffPérez".encode("utf-8")) == ("Pérez", "utf-8")


def test_binary_empty_and_large_files_are_skipped_with_reasons(tmp_path):
    write(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    write(tmp_path / "empty.txt", "   \n\t ")
    write(tmp_path / "big.txt", "a" * 2000)
    statuses = {a.article_id: a.status for a in ingest(tmp_path, max_bytes=1000)}
    assert statuses["image"].startswith("skipped: binary")
    assert statuses["empty"] == "skipped: empty file"
    assert statuses["big"].startswith("skipped: file larger than 1000")


def test_article_ids_are_relative_posix_paths_without_suffix(tmp_path):
    path = write(tmp_path / "serie a" / "città 1.txt", ARTICLE)
    assert article_id_for(path, tmp_path) == "serie a/città 1"


def test_symlink_outside_the_input_folder_is_not_followed(tmp_path):
    outside = write(tmp_path / "outside" / "secret.txt", ARTICLE)
    inside = tmp_path / "in"
    write(inside / "real.txt", ARTICLE)
    (inside / "link.txt").symlink_to(outside)
    assert [p.name for p in find_articles(inside)] == ["real.txt"]
