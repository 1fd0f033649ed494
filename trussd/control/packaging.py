"""Packaging a truss for ``trussd push``: which files go, in a reproducible ``.tar.gz``.

Files are chosen by walking the truss and dropping what ``.trussignore`` and ``.gitignore``
(at the truss root) and a few built-in patterns exclude. The archive is deterministic — sorted
names, zero mtimes and owners — so the same files always give the same SHA-256 and an
unchanged truss is never uploaded twice.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from trussd.errors import UploadRejected

__all__ = [
    "DEFAULT_IGNORES",
    "DEFAULT_MAX_FILE_BYTES",
    "IgnoreRules",
    "Package",
    "PackedFile",
    "collect_files",
    "pack",
]

DEFAULT_MAX_FILE_BYTES = 512 * 1024**2
DEFAULT_IGNORES = (
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".DS_Store",
    ".venv/",
    "venv/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
)


class IgnoreRules:
    """The useful core of gitignore: globs, ``**``, anchoring, ``dir/``-only, ``!`` negation."""

    def __init__(self, lines: list[str]) -> None:
        self._rules: list[tuple[bool, bool, bool, str]] = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line[1:] if negate else line
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            self._rules.append((negate, dir_only, anchored, line.lstrip("/")))

    @classmethod
    def for_truss(cls, root: Path) -> IgnoreRules:
        lines = list(DEFAULT_IGNORES)
        for name in (".gitignore", ".trussignore", ".truss_ignore"):
            path = root / name
            if path.is_file():
                lines += path.read_text(errors="replace").splitlines()
        return cls(lines)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for negate, dir_only, anchored, pattern in self._rules:
            if dir_only and not is_dir:
                continue
            if self._match(rel, pattern, anchored):
                result = not negate
        return result

    @staticmethod
    def _match(rel: str, pattern: str, anchored: bool) -> bool:
        if anchored:
            if fnmatch.fnmatchcase(rel, pattern):
                return True
            return pattern.startswith("**/") and fnmatch.fnmatchcase(rel, pattern[3:])
        return fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern)


@dataclass(frozen=True)
class PackedFile:
    rel: str
    size: int


@dataclass(frozen=True)
class Package:
    path: Path  # the .tar.gz
    sha256: str
    size: int
    files: tuple[PackedFile, ...]


def _check_link(root: Path, path: Path, rel: str) -> None:
    target = path.resolve()
    if not target.is_relative_to(root.resolve()):
        raise UploadRejected(
            f"`{rel}` is a link to {target}, outside the truss",
            hint="copy the file into the truss or add the link to .trussignore",
        )


def collect_files(root: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[PackedFile]:
    """Files to upload, sorted; refuses oversize files and links leading out of the truss."""
    rules = IgnoreRules.for_truss(root)
    found: list[PackedFile] = []
    too_big: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        rel_base = base.relative_to(root).as_posix()
        prefix = "" if rel_base == "." else rel_base + "/"
        kept = []
        for name in sorted(dirnames):
            if not rules.ignored(prefix + name, True):
                if (base / name).is_symlink():
                    _check_link(root, base / name, prefix + name)
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel, path = prefix + name, base / name
            if rules.ignored(rel, False):
                continue
            if path.is_symlink():
                _check_link(root, path, rel)
            size = path.stat().st_size
            if size > max_file_bytes:
                too_big.append(f"{rel} ({size / 1024**2:.0f} MiB)")
            found.append(PackedFile(rel, size))
    if too_big:
        raise UploadRejected(
            f"files over the {max_file_bytes / 1024**2:.0f} MiB limit: {', '.join(too_big)}",
            hint="serve weights from `model_cache`/`external_data` instead, add the files to "
            ".trussignore, or raise --max-file-size",
        )
    return sorted(found, key=lambda f: f.rel)


def pack(root: Path, files: list[PackedFile], out: Path) -> Package:
    """Write a deterministic ``.tar.gz`` of ``files`` (links dereferenced) to ``out``."""
    digest = hashlib.sha256()
    with out.open("wb") as raw:
        hashing = _HashingWriter(raw, digest)
        with (
            gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for item in files:
                info = tarfile.TarInfo(item.rel)
                info.size = item.size
                info.mode = 0o755 if os.access(root / item.rel, os.X_OK) else 0o644
                with (root / item.rel).open("rb") as fh:
                    tar.addfile(info, fh)
    return Package(out, digest.hexdigest(), out.stat().st_size, tuple(files))


class _HashingWriter(io.RawIOBase):
    def __init__(self, raw: io.BufferedWriter, digest: hashlib._Hash) -> None:
        self._raw = raw
        self._digest = digest

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._digest.update(data)
        return self._raw.write(data)
