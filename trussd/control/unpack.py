"""Safe unpacking of an uploaded truss archive.

An upload is untrusted. Members are checked one by one as the archive streams, and extracted
into a fresh temporary folder inside the store that is renamed into place only when the whole
archive passed; on any rejection the folder is removed, so nothing of a rejected upload stays.

Rejected: absolute names, ``..`` components, duplicate names, devices/fifos, sparse files,
links whose target leads outside the truss (checked on the text, then again on the real path
once every link exists, since a chain of inside links can still lead out), members below a
link (writing through it), and archive bombs — more than ``max_members`` entries, or more once
decompressed than ``max_bytes`` or ``max_ratio`` times the archive's own size (above a
``ratio_floor``), counted on the decompressed stream itself, so lying headers do not help, and
on the sizes written (hard links are copies). Real trusses (code, configs, weights) compress a
few times at most; a run of zeros compresses a thousand times.

Only what the archive's bytes cause is an UploadRejected (the blob is then worthless to anyone);
a failure of this machine (disk full, out of file handles) is a plain TrussdError, a 5xx.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from trussd.errors import TrussdError, UploadRejected

__all__ = ["UnpackLimits", "safe_unpack"]


@dataclass(frozen=True)
class UnpackLimits:
    max_bytes: int = 4 * 1024**3
    max_members: int = 100_000
    max_ratio: int = 100
    ratio_floor: int = 64 * 1024**2

    def expanded_limit(self, compressed: int) -> int:
        """The most an archive of ``compressed`` bytes may expand to."""
        return min(self.max_bytes, max(self.ratio_floor, self.max_ratio * compressed))


class _Counted(io.RawIOBase):
    """The decompressed stream, refusing to yield more than ``limit`` bytes."""

    def __init__(self, inner: io.BufferedIOBase, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self._left -= len(data)
        if self._left < 0:
            raise _bomb(self._limit)
        buffer[: len(data)] = data
        return len(data)


def _clean_name(name: str) -> str:
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadRejected(f"archive member `{name}` has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UploadRejected(f"archive member `{name}` contains `..`")
    if not parts:
        raise UploadRejected(f"archive member `{name}` has an empty name")
    return "/".join(parts)


def _link_inside(name: str, target: str, *, hard: bool) -> str:
    if target.startswith("/"):
        raise UploadRejected(f"link `{name}` points to an absolute path")
    joined = target if hard else posixpath.join(posixpath.dirname(name), target)
    normal = posixpath.normpath(joined)
    if normal == ".." or normal.startswith("../"):
        raise UploadRejected(f"link `{name}` leads outside the truss")
    return normal


# Errors a fresh staging folder can only get from the archive's own names (a file where a
# folder must go, a name too long); every other OSError is this machine's trouble.
_CONTENT_ERRNOS = {errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP}


def _bomb(limit: int) -> UploadRejected:
    return UploadRejected(
        f"archive expands beyond {limit // 1024**2} MiB, the unpacked size limit"
        " for an archive of its size (archive bomb?)"
    )


class _Checker:
    def __init__(self, limits: UnpackLimits, expanded_limit: int) -> None:
        self.limits = limits
        self.expanded_limit = expanded_limit
        self.total = 0
        self.names: set[str] = set()
        self.links: set[str] = set()
        self.files: dict[str, int] = {}

    def _count(self, size: int) -> None:
        self.total += size
        if self.total > self.expanded_limit:
            raise _bomb(self.expanded_limit)

    def check(self, member: tarfile.TarInfo) -> str:
        if len(self.names) >= self.limits.max_members:
            raise UploadRejected(f"archive has more than {self.limits.max_members} entries")
        name = _clean_name(member.name)
        if name in self.names:
            raise UploadRejected(f"archive member `{name}` appears twice")
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self.links:
                raise UploadRejected(f"archive member `{name}` lies below a link")
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise UploadRejected(f"archive member `{name}` is not a file, folder or link")
        if member.issparse():
            # Holes are not in the stream: a tiny archive could write a file of any size.
            raise UploadRejected(
                f"archive member `{name}` is a sparse file",
                hint="pack the truss without --sparse (-S)",
            )
        size = member.size if member.isfile() else 0
        if member.issym():
            _link_inside(name, member.linkname, hard=False)
            self.links.add(name)
        if member.islnk():
            target = _link_inside(name, member.linkname, hard=True)
            if target not in self.files:
                raise UploadRejected(f"hard link `{name}` does not point to an earlier file")
            size = self.files[target]  # extracted as a copy: its bytes count again
        self._count(size)
        if member.isfile() or member.islnk():
            self.files[name] = size
        self.names.add(name)
        return name


def _extract(tar: tarfile.TarFile, dest: Path, checker: _Checker) -> None:
    symlinks: list[tuple[str, str]] = []
    for member in tar:
        name = checker.check(member)
        path = dest / name
        if member.isdir():
            path.mkdir(parents=True, exist_ok=True)
        elif member.issym():
            symlinks.append(
                (name, member.linkname)
            )  # created last: nothing is written through them
        elif member.islnk():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dest / _link_inside(name, member.linkname, hard=True), path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with os.fdopen(
                os.open(path, flags, 0o755 if member.mode & 0o100 else 0o644), "wb"
            ) as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
    for name, target in symlinks:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, dest / name)
    _links_resolve_inside(dest, [name for name, _ in symlinks])


def _links_resolve_inside(dest: Path, links: list[str]) -> None:
    """Each link's text stayed inside, but a chain (`x -> .`, `y -> x/x/../../..`) may not:
    resolve every link for real, now that all of them exist."""
    root = os.path.realpath(dest)
    for name in links:
        try:
            real = os.path.realpath(dest / name, strict=True)
        except FileNotFoundError:
            real = os.path.realpath(dest / name)  # dangling: harmless if it dangles inside
        except OSError as exc:
            raise UploadRejected(f"link `{name}` cannot be resolved (a loop?)") from exc
        if real != root and not real.startswith(root + os.sep):
            raise UploadRejected(f"link `{name}` leads outside the truss")


def safe_unpack(archive: Path, dest: Path, limits: UnpackLimits | None = None) -> Path:
    """Unpack ``archive`` (a ``.tar.gz``) to ``dest`` (must not exist) or raise UploadRejected
    (the archive's fault) or TrussdError (this server's: disk full, no file handles)."""
    limits = limits or UnpackLimits()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        _unpack_into(archive, staging, limits)
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _unpack_into(archive: Path, staging: Path, limits: UnpackLimits) -> None:
    try:
        with gzip.open(archive, "rb") as gz:
            limit = limits.expanded_limit(archive.stat().st_size)
            counted = io.BufferedReader(_Counted(gz, limit))
            with tarfile.open(fileobj=counted, mode="r|") as tar:
                _extract(tar, staging, _Checker(limits, limit))
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UploadRejected(f"archive is not a valid .tar.gz: {exc}") from exc
    except OSError as exc:
        if exc.errno in _CONTENT_ERRNOS:
            raise UploadRejected(f"archive members clash: {exc.strerror}") from exc
        raise TrussdError(
            f"could not unpack the archive on this server: {exc}",
            hint="the upload is kept; retry once the operator has fixed the server",
        ) from exc
