import os
from pathlib import Path

import pytest

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


def test_symlink_outside_the_input_folder_is_recorded_not_followed(tmp_path):
    outside = write(tmp_path / "outside" / "secret.txt", ARTICLE)
    inside = tmp_path / "in"
    write(inside / "real.txt", ARTICLE)
    (inside / "link.txt").symlink_to(outside)
    (inside / "linked dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    assert [p.name for p in find_articles(inside)] == ["link.txt", "real.txt"]  # not entered: linked dir
    articles = {a.article_id: a for a in ingest(inside)}
    assert set(articles) == {"link", "real"}
    link = articles["link"]
    assert link.status == "skipped: link to a file outside the input folder (not followed)"
    assert link.text == "" and link.sha256 == ""  # never read
    assert articles["real"].ok


def test_links_inside_the_folder_broken_links_and_loops(tmp_path):
    write(tmp_path / "real.txt", ARTICLE)
    (tmp_path / "alias.txt").symlink_to(tmp_path / "real.txt")
    (tmp_path / "broken.txt").symlink_to(tmp_path / "nowhere.txt")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)  # a folder loop
    statuses = {a.article_id: a.status for a in ingest(tmp_path)}
    assert statuses["real"] == statuses["alias"] == "ok"
    assert statuses["broken"] == statuses["loop"] == "skipped: broken link"
    assert len(statuses) == 4


def test_binary_formats_without_nul_bytes_are_recognised(tmp_path):
    samples = {
        "report.txt": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n",
        "photo.txt": b"\x89PNG\r\n\x1a\n" + bytes(range(1, 200)),
        "anim.txt": b"GIF89a\x01\x01\xf7\xff\xff",
        "shot.txt": b"\xff\xd8\xff\xe0JFIF",
        "notes.txt": b"PK\x03\x04\x14\x06word/document.xml",
        "noise.txt": bytes((i * 37 + 11) % 31 + 1 for i in range(400)),  # control bytes, no NUL
    }
    for name, data in samples.items():
        write(tmp_path / name, data)
    statuses = {a.article_id: a.status for a in ingest(tmp_path)}
    assert statuses == {
        "report": "skipped: binary file (PDF)", "photo": "skipped: binary file (PNG image)",
        "anim": "skipped: binary file (GIF image)", "shot": "skipped: binary file (JPEG image)",
        "notes": "skipped: binary file (ZIP archive (or docx/xlsx))",
        "noise": "skipped: binary file (control characters)"}


def test_every_encoding_reads_the_same_text(tmp_path):
    text = " date 2025-03-01 Perché il tecnico è già all'Inter? Così Marotta: «Non è vero».\n"
    variants = {
        "utf8": text.encode("utf-8"), "bom": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "utf16le": text.encode("utf-16"), "utf16be": b"\xfe\xff" + text.encode("utf-16-be"),
        "cp1252": text.encode("cp1252"), "latin1": text.encode("latin-1"),
    }
    for name, data in variants.items():
        write(tmp_path / f"{name}.txt", data)
    articles = {a.article_id: a for a in ingest(tmp_path)}
    for name, article in articles.items():
        assert article.ok and article.date == "2025-03-01", name
        assert article.text == "Perché il tecnico è già all'Inter? Così Marotta: «Non è vero».\n", name
    assert articles["cp1252"].warnings and articles["latin1"].warnings
    assert not articles["bom"].warnings and not articles["utf16le"].warnings
    write(tmp_path / "odd.txt", b"\xff\xfeP\x00e\x00r")  # UTF-16 BOM, odd length
    assert read_article(tmp_path / "odd.txt", tmp_path).status == "skipped: malformed UTF-16 text"


def test_size_limit_is_checked_before_reading(tmp_path, monkeypatch):
    write(tmp_path / "exact.txt", "a" * 30 + " " + "b" * 69)  # 100 bytes
    write(tmp_path / "over.txt", "a" * 101)
    assert read_article(tmp_path / "exact.txt", tmp_path, max_bytes=100).ok
    opened = []
    monkeypatch.setattr("pipeline.ingest.read_limited", lambda path, limit: opened.append(path))
    article = read_article(tmp_path / "over.txt", tmp_path, max_bytes=100)
    assert article.status == "skipped: file larger than 100 bytes (101)" and not opened
    assert article.text == "" and article.sha256 == ""


def test_a_file_that_grows_past_the_limit_is_not_half_read(tmp_path):
    from pipeline.ingest import read_limited

    path = write(tmp_path / "log.txt", "x" * 500)
    assert read_limited(path, 499) is None and read_limited(path, 500) == b"x" * 500


def test_a_very_long_text_is_skipped_by_length_not_cut(tmp_path):
    write(tmp_path / "one line.txt", ("Juventus sacked their coach and " * 40).strip())
    article = read_article(tmp_path / "one line.txt", tmp_path, max_chars=1000)
    assert article.status == "skipped: text longer than 1000 characters (1279)"
    assert read_article(tmp_path / "one line.txt", tmp_path, max_chars=2000).ok


def test_unreadable_file_is_recorded_as_failed(tmp_path, monkeypatch):
    write(tmp_path / "locked.txt", ARTICLE)
    write(tmp_path / "open.txt", ARTICLE)
    real = __import__("pipeline.ingest", fromlist=["read_limited"]).read_limited

    def deny(path, limit):
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, limit)

    monkeypatch.setattr("pipeline.ingest.read_limited", deny)
    statuses = {a.article_id: a.status for a in ingest(tmp_path)}
    assert statuses == {"locked": "failed: cannot read (Permission denied)", "open": "ok"}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_chmod_000_file_and_folder(tmp_path):
    locked = write(tmp_path / "locked.txt", ARTICLE)
    write(tmp_path / "closed" / "inside.txt", ARTICLE)
    write(tmp_path / "open.txt", ARTICLE)
    locked.chmod(0)
    (tmp_path / "closed").chmod(0)
    try:
        statuses = {a.article_id: a.status for a in ingest(tmp_path)}
    finally:
        locked.chmod(0o644)
        (tmp_path / "closed").chmod(0o755)
    assert statuses["locked"] == "failed: cannot read (Permission denied)"
    assert statuses["closed/"] == "failed: cannot read folder (Permission denied)"
    assert statuses["open"] == "ok"


def test_unlistable_folder_is_recorded(tmp_path, monkeypatch):
    write(tmp_path / "closed" / "inside.txt", ARTICLE)
    write(tmp_path / "open.txt", ARTICLE)
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "closed":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    statuses = {a.article_id: a.status for a in ingest(tmp_path)}
    assert statuses == {"closed/": "failed: cannot read folder (Permission denied)", "open": "ok"}


def test_fifo_named_txt_is_skipped_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "pipe.txt")
    assert read_article(tmp_path / "pipe.txt", tmp_path).status == "skipped: not a regular file"


def test_names_with_spaces_accents_emoji_and_nested_folders(tmp_path):
    names = ["Serie A/Juve ⚽ news 1.txt", "Serie A/2025/città di Torino.txt", "Premier League/🏴 Spurs.txt",
             "a/b/c/d/deep.TXT", "notes.md"]
    for name in names:
        write(tmp_path / name, ARTICLE)
    ids = [a.article_id for a in ingest(tmp_path)]
    assert ids == ["Premier League/🏴 Spurs", "Serie A/2025/città di Torino", "Serie A/Juve ⚽ news 1",
                   "a/b/c/d/deep"]


def test_file_names_that_are_not_utf8_get_printable_ids(tmp_path):
    try:
        path = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.txt"))
        path.write_text(ARTICLE, encoding="utf-8")
    except (OSError, UnicodeError):
        pytest.skip("this filesystem wants UTF-8 names")
    article = next(ingest(tmp_path))
    assert article.ok and article.article_id == "caf%E9"
    article.article_id.encode("utf-8")  # writable as JSON and CSV
    article.path.encode("utf-8")


def test_ids_that_differ_only_in_suffix_case_are_not_merged(tmp_path):
    write(tmp_path / "derby.txt", ARTICLE)
    write(tmp_path / "derby.TXT", ARTICLE)
    articles = list(ingest(tmp_path))
    assert [a.article_id for a in articles] == ["derby", "derby"]
    assert articles[0].ok and articles[1].status.startswith("skipped: same article id as ")


def test_header_dates_edge_cases():
    assert split_date_header("date 2024-02-29 Testo")[0] == "2024-02-29"
    assert split_date_header("DATE 2026-03 Testo")[0] == "2026-03"
    assert split_date_header("date 2025-02-29 Testo")[::2] == ("", "malformed date header '2025-02-29' ignored")
    assert split_date_header("date 2025-00 Testo")[0] == ""
    assert split_date_header("date ２０２５-０１-０１ Testo")[0] == ""  # full-width digits are not a date
    date, text, warning = split_date_header("date\nJuventus won.")
    assert date == "" and text == "date\nJuventus won." and warning is None
