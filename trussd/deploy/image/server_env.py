"""trussd's own server environment for the image: a reproducible wheel of the running trussd
and the pinned versions of everything it needs.

The wheel is written by hand rather than by a build backend so that the same source gives the
same bytes (fixed timestamps, sorted entries): the build context, and so its hash and the
builder's layer cache, depend only on what the code is. The pins are the versions this very
trussd runs with, so the server in the image is the server that was tested here; they go in a
pip constraints file (unused entries are ignored), so environment markers are still decided by
pip for the image's Python.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

import trussd

__all__ = ["ServerEnvironment", "engine_requirements", "server_environment"]

_DIST = "trussd"
_DATA_SUFFIXES = {".py", ".typed", ".json", ".yaml", ".jinja", ".txt"}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# The ASGI server's optional speed-ups the image always wants (uvloop, httptools).
_EXTRAS = {"uvicorn": ("standard",)}


@dataclass(frozen=True)
class ServerEnvironment:
    wheel_name: str
    wheel: bytes
    #: normalised name → version, trussd's dependency closure as installed here
    pins: dict[str, str]
    requires_python: str

    def constraints(self) -> str:
        lines = [f"{name}=={version}" for name, version in sorted(self.pins.items())]
        return "\n".join(lines) + "\n"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _source_files(package: Path) -> list[tuple[str, bytes]]:
    files = []
    for path in sorted(package.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file() or path.suffix not in _DATA_SUFFIXES:
            continue
        arcname = f"{_DIST}/{path.relative_to(package).as_posix()}"
        files.append((arcname, path.read_bytes()))
    return files


def _metadata(version: str, requires: list[str], requires_python: str) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {_DIST}", f"Version: {version}"]
    lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    return ("\n".join(lines) + "\n").encode()


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(version: str, requires: list[str], requires_python: str) -> tuple[str, bytes]:
    """A py3-none-any wheel of the ``trussd`` package; the same source gives the same bytes."""
    info = f"{_DIST}-{version}.dist-info"
    entries = _source_files(Path(trussd.__file__).parent)
    entries.append((f"{info}/METADATA", _metadata(version, requires, requires_python)))
    entries.append(
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: trussd\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
    )
    entries.append(
        (f"{info}/entry_points.txt", b"[console_scripts]\ntrussd = trussd.cli.main:main\n")
    )
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            item = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            item.compress_type = zipfile.ZIP_DEFLATED
            item.external_attr = 0o644 << 16
            archive.writestr(item, data)
    return f"{_DIST}-{version}-py3-none-any.whl", buffer.getvalue()


def _base_requirements() -> list[Requirement]:
    result = []
    for raw in importlib.metadata.requires(_DIST) or []:
        req = Requirement(raw)
        if req.marker is None or "extra" not in str(req.marker):
            result.append(req)
    return result


def _closure(roots: list[Requirement]) -> dict[str, str]:
    """Installed versions of ``roots`` and everything they need (extras followed where named)."""
    pins: dict[str, str] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    queue = [
        (req.name, tuple(req.extras) or _EXTRAS.get(_normalise(req.name), ())) for req in roots
    ]
    while queue:
        name, extras = queue.pop()
        key = _normalise(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not needed on this Python (a marker excluded it); pip decides in the image
        pins[key] = dist.version
        for raw in dist.requires or []:
            try:
                child = Requirement(raw)
            except InvalidRequirement:
                continue
            marker = str(child.marker) if child.marker else ""
            wanted = "extra" not in marker or any(f'extra == "{e}"' in marker for e in extras)
            if wanted:
                queue.append((child.name, tuple(child.extras)))
    return pins


def server_environment() -> ServerEnvironment:
    """The wheel and pins of the trussd that is running now."""
    dist = importlib.metadata.distribution(_DIST)
    requires_python = dist.metadata["Requires-Python"] or ">=3.11"
    requires = [str(req) for req in _base_requirements()]
    name, wheel = build_wheel(trussd.__version__, requires, requires_python)
    pins = _closure(_base_requirements())
    pins.pop(_DIST, None)
    return ServerEnvironment(name, wheel, pins, requires_python)


def engine_requirements(extra: str) -> list[str]:
    """trussd's own requirement list for an optional engine (``cpu`` → torch, transformers)."""
    result = []
    for raw in importlib.metadata.requires(_DIST) or []:
        req = Requirement(raw)
        if (
            req.marker is not None
            and req.marker.evaluate({"extra": extra})
            and "extra" in str(req.marker)
        ):
            req.marker = None
            result.append(str(req))
    return result
