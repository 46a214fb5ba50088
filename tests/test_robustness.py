"""No input can crash a run or lose data (issue 7), checked through the CLI on folders of
articles written for these tests. Every run here uses the tests' small KB and blank models
(rules and KB only) so the whole file stays fast."""
from __future__ import annotations

import ast
import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import ingest as ingest_module
from pipeline import ruleset
from pipeline.cli import main
from pipeline.write import FORMULA_START, NUMERIC_COLUMNS, PENDING, publish, read_csv, recover, start_staging

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
FAST = ["--model-en", "blank", "--model-it", "blank"]
OUTPUTS = ("triples.csv", "articles.csv", "entities.csv", "summary.csv", "report.html")

SPURS = (" date 2025-06-12 Tottenham Hotspur have sacked their head coach after a run of defeats. "
         "According to Sky Sport, Marco Silva is set to replace him on a three-year deal.\n")
TORO = ("date 2025-05\nIl Torino ha esonerato l'allenatore dopo la sconfitta con il Genoa. Secondo la "
        "Gazzetta dello Sport, il presidente Urbano Cairo potrebbe puntare su Massimiliano Allegri.\n")
JUVE = "Juventus have sacked Massimiliano Allegri after the defeat to Napoli, the club said on Sunday.\n"
MIXED = ("Chelsea have sacked their manager after a run of five defeats in the league this season. "
         "Il Napoli ha deciso di esonerare l'allenatore dopo la sconfitta di ieri sera al Maradona.")
SPANISH = ("El Real Madrid ha despedido a su entrenador tras la derrota en el clásico y el club busca ya "
           "un sustituto para el banquillo, según informa la prensa deportiva.")


@pytest.fixture(autouse=True)
def tiny_kb(monkeypatch):
    monkeypatch.setenv("CALCIO_KB", str(FIXTURES / "kb.jsonl"))


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def extract(in_dir: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["extract", "--in", str(in_dir), "--out", str(out), *FAST, *extra])
    return code, stdout.getvalue(), stderr.getvalue()


def outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS if (out / name).exists()}


def leftovers(out: Path) -> list[str]:
    """Staging folders, pending publications and temporary files anywhere under OUT."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.name.startswith((".run-", PENDING)) or p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A folder of three good articles and the outputs of one run on it."""
    root = tmp_path_factory.mktemp("small")
    write(root / "en" / "spurs.txt", SPURS)
    write(root / "it" / "toro.txt", TORO)
    write(root / "en" / "juve.txt", JUVE)
    out = tmp_path_factory.mktemp("small-out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALCIO_KB", str(FIXTURES / "kb.jsonl"))
        assert extract(root, out)[0] == 0
    return root, out


@pytest.fixture
def previous(small_run, tmp_path):
    """A copy of small_run's OUT and its outputs' bytes, for runs that must not change them."""
    root, out = small_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return root, copy, outputs(copy)


# ---------------------------------------------------------------------------------------
# Every kind of input file ends up in the manifest with a status and a reason.

def nasty_folder(root: Path, outside: Path) -> None:
    write(root / "en" / "spurs sacking.txt", SPURS)
    write(root / "it" / "toro è.txt", TORO)
    write(root / "empty.txt", b"")
    write(root / "blank.txt", "  \n\t \r\n")
    write(root / "binary" / "nul.txt", b"Juventus\x00\x01\x02 sacked")
    write(root / "binary" / "scan.txt", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    write(root / "binary" / "logo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01")
    write(root / "binary" / "photo.txt", b"\xff\xd8\xff\xe0\x00\x10JFIF")
    write(root / "binary" / "report.docx.txt", b"PK\x03\x04\x14\x00\x06\x00word/document.xml")
    italian = "Il Torino è già pronto: la società granata ha esonerato l'allenatore, perché così non va."
    write(root / "enc" / "cp1252.txt", (italian + " «Basta» – dice Cairo.").encode("cp1252"))
    write(root / "enc" / "latin1.txt", italian.encode("latin-1"))
    write(root / "enc" / "bom.txt", "\ufeff" + JUVE)
    write(root / "enc" / "utf16.txt", (" date 2025-01-02 " + JUVE).encode("utf-16"))
    write(root / "huge.txt", b"Juventus have sacked their coach. " * 70_000)  # 2.4 MB > --max-bytes
    write(root / "one line.txt", ("Juventus have sacked Massimiliano Allegri after the defeat to Napoli. " * 15_000)
          .replace("\n", " "))  # ~1 MB, one line
    write(root / "one line short.txt", (JUVE.strip() + " ") * 30)  # a real article with no line breaks
    write(root / "no date.txt", JUVE)
    write(root / "bad date 1.txt", "date 2026-13-45 " + JUVE)
    write(root / "bad date 2.txt", "date soon\n" + JUVE)
    write(root / "mixed.txt", MIXED)
    write(root / "spanish.txt", SPANISH)
    write(root / "names" / "Juve ⚽ news 🏆.txt", JUVE)
    write(root / "names" / "città  di Torino .txt", TORO)
    write(root / "deep" / "a" / "b" / "c" / "nested.txt", JUVE)
    write(root / "notes.md", "not an article")
    write(outside / "secret.txt", "Secret: " + JUVE)
    (root / "link out.txt").symlink_to(outside / "secret.txt")
    write(root / "locked.txt", JUVE)


EXPECTED = {
    "en/spurs sacking": "ok", "it/toro è": "ok",
    "empty": "skipped: empty file", "blank": "skipped: empty file",
    "binary/nul": "skipped: binary file (contains NUL bytes)", "binary/scan": "skipped: binary file (PDF)",
    "binary/logo": "skipped: binary file (PNG image)", "binary/photo": "skipped: binary file (JPEG image)",
    "binary/report.docx": "skipped: binary file (ZIP archive (or docx/xlsx))",
    "enc/cp1252": "ok", "enc/latin1": "ok", "enc/bom": "ok", "enc/utf16": "ok",
    "huge": "skipped: file larger than 2000000 bytes (2380000)",
    "one line": "skipped: text longer than 50000 characters",
    "one line short": "ok", "no date": "ok", "bad date 1": "ok", "bad date 2": "ok", "mixed": "ok",
    "spanish": "skipped: unsupported language es",
    "names/Juve ⚽ news 🏆": "ok", "names/città  di Torino ": "ok", "deep/a/b/c/nested": "ok",
    "link out": "skipped: link to a file outside the input folder (not followed)",
    "locked": "failed: cannot read (Permission denied)",
}


@pytest.fixture(scope="module")
def nasty_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("nasty")
    root, out = base / "in", base / "out"
    nasty_folder(root, base / "outside")
    real_read = ingest_module.read_limited

    def read_limited(path, limit):  # chmod 000 does not stop root: refuse like the OS would
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path, limit)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALCIO_KB", str(FIXTURES / "kb.jsonl"))
        patch.setattr(ingest_module, "read_limited", read_limited)
        started = time.monotonic()
        code, stdout, stderr = extract(root, out, "--max-bytes", "2000000")
        elapsed = time.monotonic() - started
    return root, out, code, stdout, stderr, elapsed


def test_every_input_is_in_the_manifest_with_its_status(nasty_run):
    _, out, _, _, _, _ = nasty_run
    manifest = {r["article_id"]: r for r in read_csv(out / "articles.csv")}
    statuses = {a: r["status"] for a, r in manifest.items()}
    assert set(statuses) == set(EXPECTED)
    for article_id, status in EXPECTED.items():
        assert statuses[article_id].startswith(status), (article_id, statuses[article_id])
    for article_id, row in manifest.items():
        if row["status"] == "ok":
            assert row["language"] in ("en", "it"), article_id
            assert len(row["sha256"]) == 64
    assert manifest["en/spurs sacking"]["date"] == "2025-06-12" and manifest["enc/utf16"]["date"] == "2025-01-02"
    for article_id in ("no date", "bad date 1", "bad date 2"):
        assert manifest[article_id]["date"] == ""
    assert manifest["link out"]["sha256"] == "" and manifest["huge"]["sha256"] == ""  # never read


def test_the_run_goes_on_and_its_exit_status_says_a_file_failed(nasty_run):
    _, out, code, stdout, stderr, elapsed = nasty_run
    assert code == 1  # "locked" failed; everything else is ok or skipped
    assert "locked: failed: cannot read (Permission denied)" in stdout
    assert "malformed date header '2026-13-45' ignored" in stderr and "'soon'" in stderr
    assert "not UTF-8, decoded as cp1252" in stderr
    assert elapsed < 30  # the 1 MB line is skipped by length, not fed to the rules
    triples = read_csv(out / "triples.csv")
    by_article = {r["article_id"] for r in triples}
    assert {"en/spurs sacking", "it/toro è", "names/Juve ⚽ news 🏆", "deep/a/b/c/nested", "enc/utf16",
            "one line short"} <= by_article
    assert not by_article & {a for a, s in EXPECTED.items() if s != "ok"}
    assert all(r["subject"] != "Secret" and not r["evidence"].startswith("Secret") for r in triples)


def test_offsets_and_evidence_match_the_text_of_every_input(nasty_run):
    _, out, _, _, _, _ = nasty_run
    texts = {}
    with (out / "work" / "articles.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts[row["article_id"]] = row["text"]
    for row in read_csv(out / "triples.csv"):
        text = texts[row["article_id"]]
        assert 0 <= int(row["start"]) <= int(row["end"]) <= len(text)
        assert text[int(row["start"]):int(row["end"])] == row["evidence"]
    for row in read_csv(out / "entities.csv"):
        text = texts[row["article_id"]]
        assert text[int(row["start"]):int(row["end"])] == row["text"]


def test_outputs_are_complete_and_nothing_is_left_behind(nasty_run):
    root, out, _, _, _, _ = nasty_run
    assert all((out / name).exists() for name in OUTPUTS)
    assert leftovers(out) == [] and leftovers(root) == []
    assert "ok" in (out / "report.html").read_text(encoding="utf-8")


def test_a_run_with_only_skipped_files_exits_0(tmp_path):
    write(tmp_path / "in" / "es.txt", SPANISH)
    write(tmp_path / "in" / "empty.txt", "")
    write(tmp_path / "in" / "en.txt", JUVE)
    code, stdout, _ = extract(tmp_path / "in", tmp_path / "out")
    assert code == 0 and "2 skipped" in stdout


def test_an_article_that_breaks_a_stage_is_failed_and_the_others_go_on(tmp_path, monkeypatch):
    from pipeline.relations import RelationExtractor

    write(tmp_path / "in" / "good.txt", JUVE)
    write(tmp_path / "in" / "bad.txt", SPURS)
    real_call = RelationExtractor.__call__

    def call(self, doc):
        if doc.user_data.get("article_id") == "bad":
            raise ZeroDivisionError("a bug in a rule")
        return real_call(self, doc)

    monkeypatch.setattr(RelationExtractor, "__call__", call)
    code, _, stderr = extract(tmp_path / "in", tmp_path / "out")
    assert code == 1
    statuses = {r["article_id"]: r["status"] for r in read_csv(tmp_path / "out" / "articles.csv")}
    assert statuses == {"bad": "failed: relations: ZeroDivisionError: a bug in a rule", "good": "ok"}
    assert {r["article_id"] for r in read_csv(tmp_path / "out" / "triples.csv")} == {"good"}
    assert "bad: relations failed" in stderr


# ---------------------------------------------------------------------------------------
# A run that cannot start stops with status 2 and leaves OUT as it was.

def test_empty_input_folder_is_exit_2_and_creates_nothing(tmp_path):
    write(tmp_path / "in" / "notes.md", "no articles here")
    code, _, stderr = extract(tmp_path / "in", tmp_path / "out")
    assert code == 2 and "holds no .txt files" in stderr
    assert not (tmp_path / "out").exists()


def test_input_that_is_a_file_is_exit_2(tmp_path):
    write(tmp_path / "in.txt", JUVE)
    code, _, stderr = extract(tmp_path / "in.txt", tmp_path / "out")
    assert code == 2 and "is not a folder" in stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["out is a file", "out under a file"])
def test_out_that_cannot_be_a_folder_is_exit_2(small_run, tmp_path, where):
    root, _ = small_run
    blocker = write(tmp_path / "taken", "my own file")
    out = blocker if where == "out is a file" else blocker / "out"
    code, stdout, stderr = extract(root, out)
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: cannot write the outputs under") and "Traceback" not in stderr
    assert blocker.read_text() == "my own file"


def test_read_only_out_is_exit_2_and_keeps_the_previous_outputs(previous, monkeypatch):
    root, out, before = previous
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        out.chmod(0o555)
    else:  # root writes anywhere: refuse the staging folder as a read-only folder would
        real_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):
            if self.name.startswith(".run-"):
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        code, _, stderr = extract(root, out)
    finally:
        out.chmod(0o755)
    assert code == 2 and "Permission denied" in stderr
    assert outputs(out) == before and leftovers(out) == []


def test_disk_full_while_writing_keeps_the_previous_outputs(previous, monkeypatch):
    root, out, before = previous
    write(root.parent / "other" / "new.txt", SPURS)  # a run that would change every output

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pipeline.stages.render_report", full)
    code, _, stderr = extract(root.parent / "other", out)
    assert code == 2 and "No space left on device" in stderr
    assert outputs(out) == before and leftovers(out) == []


def test_ctrl_c_in_process_keeps_the_previous_outputs(previous, monkeypatch):
    root, out, before = previous

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pipeline.stages.write_triples", interrupt)
    code, _, stderr = extract(root, out)
    assert code == 130 and "interrupted" in stderr
    assert outputs(out) == before and leftovers(out) == []


# ---------------------------------------------------------------------------------------
# Malformed configuration: a clear error naming file and line, before anything runs.

def broken_kb(tmp_path: Path, line: int, replacement: str) -> Path:
    lines = (FIXTURES / "kb.jsonl").read_text(encoding="utf-8").splitlines()
    lines[line - 1] = replacement
    return write(tmp_path / "kb.jsonl", "\n".join(lines) + "\n")


@pytest.mark.parametrize("replacement, message", [
    ('{"id": "club:x", "type": "CLUB", "name": "X"', "bad KB entry"),  # truncated JSON
    ('{"id": "club:x", "type": "CLUB"}', "bad KB entry"),  # no name
])
def test_broken_kb_is_exit_2_with_file_and_line(previous, tmp_path, monkeypatch, replacement, message):
    root, out, before = previous
    kb = broken_kb(tmp_path, 5, replacement)
    monkeypatch.setenv("CALCIO_KB", str(kb))
    code, stdout, stderr = extract(root, out)
    assert code == 2 and stdout == ""
    assert f"{kb}:5: {message}" in stderr and "Traceback" not in stderr
    assert outputs(out) == before and leftovers(out) == []
    code, _, _ = extract(root, tmp_path / "fresh")
    assert code == 2 and not (tmp_path / "fresh").exists()


def test_kb_that_is_not_usable_is_exit_2(previous, tmp_path, monkeypatch):
    root, out, before = previous
    for name, data in {"missing.jsonl": None, "latin1.jsonl": '{"id": "club:c", "type": "CLUB", "name": "Città"}\n'
                       .encode("latin-1"), "number.jsonl": b'{"id": "club:n", "type": "CLUB", "name": 7}\n'}.items():
        path = tmp_path / name
        if data is not None:
            write(path, data)
        monkeypatch.setenv("CALCIO_KB", str(path))
        code, _, stderr = extract(root, out)
        assert code == 2 and str(path) in stderr and "Traceback" not in stderr, name
        assert outputs(out) == before and leftovers(out) == [], name


def test_broken_rule_file_of_the_other_language_still_stops_the_run(previous, rules_copy):
    root, out, before = previous
    status = rules_copy / "it" / "status.yml"
    lines = status.read_text(encoding="utf-8").splitlines()
    lines.insert(2, "  - id: broken\n    pattern: [{LOWER: {IN: [a, b}}]")  # an unclosed bracket
    status.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.rmtree(root.parent / "en-only", ignore_errors=True)
    write(root.parent / "en-only" / "spurs.txt", SPURS)
    code, _, stderr = extract(root.parent / "en-only", out)
    assert code == 2 and f"{status}:" in stderr and "malformed YAML" in stderr
    line = int(stderr.split(f"{status}:")[1].split(":")[0])
    assert 3 <= line <= 5
    assert outputs(out) == before and leftovers(out) == []


def test_rule_files_are_data_never_code(previous, rules_copy, tmp_path):
    root, out, before = previous
    marker = tmp_path / "pwned"
    (rules_copy / "en" / "coref.yml").write_text(
        f"- !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    code, _, stderr = extract(root, out)
    assert code == 2 and "coref.yml:1" in stderr
    assert not marker.exists()
    assert outputs(out) == before


def test_empty_rule_file_is_exit_2(previous, rules_copy):
    root, out, before = previous
    (rules_copy / "en" / "status.yml").write_text("# nothing yet\n", encoding="utf-8")
    code, _, stderr = extract(root, out)
    assert code == 2 and "status.yml: rule file is empty" in stderr
    assert outputs(out) == before


# ---------------------------------------------------------------------------------------
# Interrupted runs: the previous outputs stay whole, the next run completes.

def generated_folder(root: Path, n: int) -> None:
    """n articles built from templates over the tests' KB (enough work to interrupt)."""
    clubs = ["Juventus", "AC Milan", "Napoli", "Chelsea", "Torino", "Tottenham Hotspur", "Inter", "Genoa"]
    for i in range(n):
        club, other = clubs[i % len(clubs)], clubs[(i * 3 + 1) % len(clubs)]
        write(root / f"batch {i // 10}" / f"article {i:03d}.txt",
              f" date 2025-{i % 12 + 1:02d}-{i % 27 + 1:02d} {club} have sacked Massimiliano Allegri after the "
              f"defeat to {other}. According to Sky Sport, {other} are interested in Marco Silva, who could "
              f"sign a three-year deal. Fabrizio Romano reports that {club} want Victor Osimhen.\n\n"
              f"Urbano Cairo, the president of Torino, denied any interest in Allegri.\n" * 3)


def start_cli(in_dir: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "CALCIO_KB": str(FIXTURES / "kb.jsonl"), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "pipeline", "extract", "--in", str(in_dir), "--out", str(out),
                             *FAST], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)


@pytest.mark.parametrize("how, when", [(signal.SIGKILL, "work/articles.jsonl"), (signal.SIGINT, "work/articles.jsonl"),
                                       (signal.SIGKILL, "work/triples.jsonl")],
                         ids=["SIGKILL after ingest", "SIGINT after ingest", "SIGKILL while writing"])
def test_a_run_interrupted_mid_way_keeps_the_previous_outputs(previous, tmp_path, how, when):
    root, out, before = previous
    bigger = tmp_path / "bigger"
    generated_folder(bigger, 24)
    process = start_cli(bigger, out)
    staging = out / f".run-{process.pid}"
    try:
        wait_for(lambda: (staging / when).exists(), process)
        process.send_signal(how)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert process.returncode == (-signal.SIGKILL if how == signal.SIGKILL else 130)
    interrupted = outputs(out)
    pending = (out / PENDING).exists()
    if how != signal.SIGKILL:
        assert leftovers(out) == []  # cleaned on the way out
    code, _, _ = extract(bigger, out)  # the next run completes (and removes what the killed one left)
    assert code == 0 and leftovers(out) == []
    after = outputs(out)
    assert len(read_csv(out / "articles.csv")) == 24 and after != before
    for name in OUTPUTS:  # each file whole: the old one, or (killed while publishing) the new one
        assert interrupted[name] in (before[name], after[name]), name
    if not pending:  # not caught between the commit and the last move: never mixed
        assert interrupted in (before, after)
    if when == "work/articles.jsonl":
        assert interrupted == before


def test_sigterm_is_handled_like_ctrl_c():
    from pipeline.cli import terminate_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_publication_cut_short_is_finished_by_the_next_command(previous, monkeypatch):
    """SIGKILL between the commit and the last move: the next command completes the swap."""
    root, out, before = previous
    staging = start_staging(out)
    new = {name: f"new {name}\n".encode() for name in OUTPUTS}
    for name, data in new.items():
        write(staging / name, data)
    (staging / "work").mkdir()
    shutil.copy(out / "work" / "triples.jsonl", staging / "work" / "triples.jsonl")
    moved = []
    real_replace = os.replace

    def replace(source, target):
        if str(source).startswith(str(out / PENDING)) and len(moved) == 2:
            raise SystemExit("killed")  # stands for SIGKILL: nothing after this runs
        moved.append(target)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(SystemExit):
        publish(staging, out)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (out / PENDING).is_dir()
    for name in OUTPUTS:  # each file is whole: the old one or the new one
        assert (out / name).read_bytes() in (before[name], new[name])
    code = main(["write", "--out", str(out)])  # any command on OUT finishes the publication first
    assert code == 0 and not (out / PENDING).exists()
    recover(out)
    assert leftovers(out) == []


def test_stale_temporary_files_do_not_break_the_next_run(previous):
    root, out, before = previous
    dead = 2 ** 22 + 12345  # above Linux's largest pid: no such process
    write(out / f".triples.csv.{dead}.tmp", "article_id,arti")
    write(out / "work" / f".articles.jsonl.{dead}.tmp", '{"article_id": "x", "pa')
    write(out / f".run-{dead}" / "triples.csv", "half a fil")
    write(out / PENDING / "triples.csv", "no plan: never committed")
    write(out / "my notes.tmp", "not ours")
    code, _, _ = extract(root, out)
    assert code == 0
    assert outputs(out) == before  # same input, same bytes
    assert leftovers(out) == ["my notes.tmp"]


def work_files(out: Path) -> dict[str, bytes]:
    """The files under OUT/work (cache included) but run.json, which records timings."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "work").rglob("*")
            if p.is_file() and p.name != "run.json"}


def test_over_its_own_outputs_a_run_gives_the_same_bytes(previous):
    root, out, before = previous
    work_before = work_files(out)
    assert extract(root, out)[0] == 0
    assert outputs(out) == before
    assert work_files(out) == work_before


def index_languages(out: Path, stage_file: str) -> list[str]:
    lines = (out / "work" / stage_file).read_text(encoding="utf-8").splitlines()
    return sorted(json.loads(line)["language"] for line in lines)


def test_outputs_of_a_language_no_longer_in_the_input_are_removed(previous, tmp_path):
    root, out, _ = previous
    assert index_languages(out, "annotated.jsonl") == ["en", "en", "it"]
    write(tmp_path / "en-only" / "spurs.txt", SPURS)
    assert extract(tmp_path / "en-only", out)[0] == 0
    for index in ("annotated.jsonl", "normalised.jsonl"):
        assert index_languages(out, index) == ["en"]
    assert len(list((out / "work" / "cache" / "annotate").rglob("*.spacy"))) == 1  # the others pruned
    assert {r["article_id"] for r in read_csv(out / "articles.csv")} == {"spurs"}


# ---------------------------------------------------------------------------------------
# Security.

def test_no_formula_reaches_a_spreadsheet_through_the_cli(tmp_path):
    root = tmp_path / "in"
    write(root / '=HYPERLINK("evil")=.txt', "=HYPERLINK(\"http://evil\") " + JUVE)
    write(root / "+39 Juventus.txt", "+Juventus have sacked Massimiliano Allegri after the defeat to Napoli.")
    write(root / "-2 Milan.txt", "-AC Milan have sacked their coach. @SkySport: Milan are interested in Marco Silva.")
    write(root / "@SkySport.txt", "@SkySport Chelsea are interested in Massimiliano Allegri, sources say.")
    write(root / "\tTab.txt", "\tJuventus want Victor Osimhen, according to Fabrizio Romano.")
    out = tmp_path / "out"
    code, _, _ = extract(root, out, "--per-article")
    assert code == 0
    neutralised = 0
    for path in sorted(out.rglob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                for column, cell in row.items():
                    if cell.startswith(FORMULA_START):
                        assert column in NUMERIC_COLUMNS and cell.lstrip("-").replace(".", "").isdigit(), \
                            (path.name, column, cell)
                    neutralised += cell.startswith("'") and cell[1:].startswith(FORMULA_START)
    assert neutralised >= 10  # the hostile ids, evidence and sources were really written, with a '
    restored = {r["article_id"] for r in read_csv(out / "articles.csv")}
    assert '=HYPERLINK("evil")=' in restored and "@SkySport" in restored


def test_article_ids_never_lead_outside_out(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    write(root / "...txt", JUVE)  # article id ".."
    write(root / "..txt", JUVE)  # article id "."
    write(root / "sub" / "...txt", SPURS)  # "sub/.."
    write(root / "..\\..\\evil.txt", JUVE)  # a backslash is a plain character on POSIX
    write(root / "fine.txt", JUVE)
    before = {p for p in tmp_path.rglob("*")}
    code, _, stderr = extract(root, out, "--per-article")
    assert code == 0
    created = {p for p in tmp_path.rglob("*")} - before
    resolved_out = out.resolve()
    assert created and all(p.resolve().is_relative_to(resolved_out) for p in created)
    assert "no per-article CSV (unsafe file name)" in stderr
    ids = {r["article_id"] for r in read_csv(out / "articles.csv")}
    assert {"..", ".", "sub/..", "..\\..\\evil", "fine"} <= ids
    assert (out / "articles" / "fine.csv").exists()


def test_per_article_files_never_follow_a_linked_folder_out(previous, tmp_path):
    root, out, _ = previous
    inputs = tmp_path / "in"
    shutil.copytree(root, inputs)
    write(inputs / "en" / "deeper" / "juve again.txt", JUVE)  # would need a folder made through the link
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (out / "articles").mkdir(exist_ok=True)
    (out / "articles" / "en").symlink_to(outside, target_is_directory=True)
    code, _, stderr = extract(inputs, out, "--per-article")
    assert code == 0 and list(outside.iterdir()) == []
    assert "not written: its folder leads outside OUT" in stderr
    assert (out / "articles" / "it" / "toro.csv").exists()


UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "RuleLoader", "LineLoader"}


def test_pipeline_never_unpickles_or_evaluates():
    """User-editable files (rules, KB, articles) are parsed as data: no pickle, no eval/exec,
    YAML only through a safe loader."""
    problems = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                problems += [f"{where}: imports {n}" for n in names if n and n.split(".")[0] in UNSAFE_MODULES]
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if isinstance(func, ast.Name) and name in UNSAFE_CALLS:
                problems.append(f"{where}: calls {name}()")
            if name in ("unsafe_load", "full_load", "load_all") or (
                    name == "load" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "yaml"):
                loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
                loader_name = getattr(loader, "id", getattr(loader, "attr", None))
                if loader_name not in SAFE_YAML_LOADERS:
                    problems.append(f"{where}: yaml.{name} without a safe loader")
            if name == "load" and any(k.arg == "allow_pickle" for k in node.keywords):
                problems.append(f"{where}: allow_pickle")
    assert problems == []
    assert issubclass(ruleset.RuleLoader, __import__("yaml").SafeLoader)
    assert issubclass(ruleset.LineLoader, ruleset.RuleLoader)
