"""Do a truss's ``requirements`` clash with what the trussd server itself needs?

``find_conflicts(requirements)`` compares each requirement with trussd's own runtime
requirements (read from the installed distribution's metadata, or given explicitly) and
returns the packages for which no version can satisfy both. It needs no network: candidate
versions are the ones the two specifier sets mention, their neighbours, and the installed
version. Used by ``trussd serve`` at start (a warning) and by the image build (an error).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["Conflict", "find_conflicts", "server_requirements"]


@dataclass(frozen=True)
class Conflict:
    package: str
    user: str
    server: str

    def describe(self) -> str:
        return (
            f"`{self.user}` in the truss's requirements cannot be installed together with "
            f"the server's `{self.server}` ({self.package})"
        )


def server_requirements(distribution: str = "trussd") -> list[Requirement]:
    """The runtime requirements of the installed server (extras excluded)."""
    try:
        raw = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    reqs = []
    for line in raw:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        reqs.append(req)
    return reqs


def _parse(line: str) -> Requirement | None:
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith(("-", "git+", "http:", "https:", "file:")):
        return None
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.url or (req.marker is not None and not req.marker.evaluate()):
        return None
    return req


def _candidates(*specs: SpecifierSet, installed: str | None) -> set[Version]:
    found: set[Version] = set()
    for spec in specs:
        for item in spec:
            try:
                v = Version(item.version.replace(".*", ""))
            except InvalidVersion:
                continue
            rel = [*v.release, 0, 0]
            major, minor, micro = rel[0], rel[1], rel[2]
            found |= {
                v,
                Version(f"{major}.{minor}.{micro + 1}"),
                Version(f"{major}.{minor + 1}"),
                Version(f"{major + 1}.0"),
                Version(f"{v}.post1"),
            }
            if micro > 0:
                found.add(Version(f"{major}.{minor}.{micro - 1}"))
            if minor > 0:
                found.add(Version(f"{major}.{minor - 1}.999"))
            if major > 0:
                found.add(Version(f"{major - 1}.999"))
    if installed:
        with contextlib.suppress(InvalidVersion):
            found.add(Version(installed))
    return found


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _compatible(a: SpecifierSet, b: SpecifierSet, name: str) -> bool:
    if not str(a) or not str(b):
        return True
    return any(
        a.contains(v, prereleases=True) and b.contains(v, prereleases=True)
        for v in _candidates(a, b, installed=_installed(name))
    )


def find_conflicts(
    requirements: Iterable[str], server: Iterable[Requirement] | None = None
) -> list[Conflict]:
    """Requirements that clash with the server's own, one ``Conflict`` per package."""
    ours = {
        canonicalize_name(r.name): r
        for r in (server if server is not None else server_requirements())
    }
    conflicts = []
    for line in requirements:
        req = _parse(line)
        if req is None:
            continue
        name = canonicalize_name(req.name)
        mine = ours.get(name)
        if mine is not None and not _compatible(req.specifier, mine.specifier, name):
            conflicts.append(Conflict(package=name, user=line.strip(), server=str(mine)))
    return conflicts
