"""Per-article stage results kept under OUT/work/cache, addressed by what produced them.

Each stage result of one article is stored under a key that hashes everything the result
depends on: the article (id, date, language, text) and a fingerprint of the stage's
inputs (model files, knowledge base, rule files, the stage's source code). A second run
over unchanged articles finds every key and runs nothing; after a rule edit only the
fingerprint of the relation stage changes, so annotation and normalisation are reused.

    annotate key  = H(article, annotate fingerprint)
    normalise key = H(annotate key, normalise fingerprint)
    relations key = H(normalise key, relations fingerprint)

Entries are written atomically (temporary file, then rename), so an interrupted run
leaves whole entries or none; entries no index refers to any more are pruned after a run.
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import spacy

PACKAGE = Path(__file__).resolve().parent

# Source files whose code shapes each stage's result (besides models, KB and rules).
STAGE_SOURCES = {
    "annotate": ("annotate.py", "nlp.py", "knowledge.py", "components/*.py", "tokens.py"),
    "normalise": ("normalise.py", "knowledge.py", "ruleset.py", "rulebook.py", "components/lemmas.py",
                  "components/persons.py", "matching.py", "tokens.py"),
    "relations": ("relations.py", "ruleset.py", "rulebook.py", "components/lemmas.py", "engine.py", "matching.py",
                  "tokens.py"),
}
# Rule files (pipeline/rules/<lang>/<name>.yml) each stage reads.
STAGE_RULES = {
    "annotate": (),
    "normalise": ("coref", "roles"),
    "relations": ("relations", "status", "attribution", "roles"),
}


def digest(*parts: str | bytes) -> str:
    """sha256 over the parts, each length-prefixed so ("ab", "c") differs from ("a", "bc")."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """Digest of a file's bytes ("missing" for a file that is not there)."""
    return _file_digest(str(path), *_stat_key(path))


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime: int) -> str:  # size/mtime: re-read when the file changes
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _stat_key(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def tree_digest(root: Path) -> str:
    """Digest of every file below root, with its relative path (a model folder)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return digest(*(f"{p.relative_to(root).as_posix()}={file_digest(p)}" for p in files))


def source_digest(patterns: Iterable[str]) -> str:
    files = sorted({p for pattern in patterns for p in PACKAGE.glob(pattern)})
    return digest(*(f"{p.relative_to(PACKAGE).as_posix()}={file_digest(p)}" for p in files))


def model_digest(model: str | None) -> str:
    """What identifies the NER model: its files for a folder, name and version for a package."""
    if model is None:
        return "blank"
    path = Path(model)
    if path.is_dir():
        return tree_digest(path)
    version = spacy.util.get_package_version(model) or "?"
    return f"package {model} {version}"


def stage_fingerprint(stage: str, lang: str, model_id: str = "", kb_path: Path | None = None,
                      rules_dir: Path | None = None) -> str:
    """Everything but the article that a stage's result for one article depends on."""
    from pipeline.ruleset import RULES_DIR  # noqa: PLC0415 - avoid a cycle at import time

    rules_dir = rules_dir or RULES_DIR
    parts = [stage, lang, spacy.__version__, source_digest(STAGE_SOURCES[stage]),
             *(file_digest(rules_dir / lang / f"{name}.yml") for name in STAGE_RULES[stage])]
    if stage == "annotate":
        parts.append(model_id)
    if stage in ("annotate", "normalise") and kb_path is not None:
        parts.append(file_digest(kb_path))
    return digest(*parts)


def article_key(article_id: str, date: str, language: str, text: str, fingerprint: str) -> str:
    return digest(article_id, date, language, text, fingerprint)


def chained_key(previous_key: str, fingerprint: str) -> str:
    return digest(previous_key, fingerprint)


class StageCache:
    """OUT/work/cache/<stage>/<key[:2]>/<key><suffix>: one file per article and key."""

    def __init__(self, root: Path, stage: str, suffix: str):
        self.folder = Path(root) / stage
        self.suffix = suffix

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{self.suffix}"

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except OSError:
            return None

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def prune(self, keep: Iterable[str]) -> int:
        """Remove the entries (and stray temporary files) whose key is not in keep."""
        keep = set(keep)
        removed = 0
        if not self.folder.is_dir():
            return 0
        for path in self.folder.glob("*/*"):
            key = path.name.split(".", 1)[0]
            if key not in keep or path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def get_json(cache: StageCache, key: str):
    data = cache.get(key)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:  # a damaged entry is a miss: the stage runs again
        return None


def sealed(body: bytes) -> bytes:
    """The body after a first line with its CRC-32: for entries copied into an output as
    they are (see unsealed)."""
    return b"#crc32 %08x\n" % zlib.crc32(body) + body


def unsealed(data: bytes | None) -> bytes | None:
    """The body of a sealed entry; None when it is missing or damaged."""
    if data is None:
        return None
    head, _, body = data.partition(b"\n")
    return body if head == b"#crc32 %08x" % zlib.crc32(body) else None
