"""Do a truss's ``requirements`` clash with what the trussd server itself needs?

The server and the user's model share one process, so for a package both hold, Python imports
the server's copy. One check, three callers:

- ``find_clashes(requirements)``: each requirement against the server's own requirement
  specifiers (from the installed distribution's metadata, or given); a clash is a package for
  which no version satisfies both. ``trussd serve`` logs each one at start.
- ``pinned_clashes(requirements, pins)``: the same check with the versions pinned in the
  image's server environment as ``==`` requirements; the image build warns before it starts.
- ``installed_clashes(server_paths, user_paths)``: in the image, after both environments are
  installed, every package present in both with different versions (``clash_check``).

No network: candidate versions are the ones the two specifier sets mention, their neighbours,
and the installed version. Installers (pip, setuptools, wheel) never reach the model: ignored.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = [
    "Clash",
    "find_clashes",
    "installed_clashes",
    "pinned_clashes",
    "server_requirements",
]

_IGNORED = {"pip", "setuptools", "wheel", "distribute"}


@dataclass(frozen=True)
class Clash:
    package: str  # canonical name
    user: str  # the truss's specifier, or the version installed for it
    server: str  # the server's version (pinned or installed), or its specifier

    def render(self) -> str:
        if _is_version(self.server):
            return (
                f"`{self.package}`: the truss wants {self.user}, trussd's server has "
                f"{self.server}; the model imports the server's {self.server}"
            )
        return (
            f"`{self.package}`: the truss wants {self.user}, trussd's server needs "
            f"{self.server}; no version satisfies both"
        )


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


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
    """A requirement line this check can judge; pip options, URLs and paths are pip's to judge."""
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith(("-", "git+", "http:", "https:", "file:")):
        return None
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.url or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
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


def _shown(spec: SpecifierSet) -> str:
    """A lone ``==`` pin shows as its version, anything else as the specifier."""
    items = list(spec)
    if len(items) == 1 and items[0].operator == "==" and _is_version(items[0].version):
        return items[0].version
    return str(spec)


def find_clashes(
    requirements: Iterable[str], server: Iterable[Requirement] | None = None
) -> list[Clash]:
    """Requirements that clash with the server's own, one ``Clash`` per line, in order."""
    ours = {
        canonicalize_name(r.name): r
        for r in (server if server is not None else server_requirements())
    }
    found = []
    for line in requirements:
        req = _parse(line)
        if req is None:
            continue
        name = canonicalize_name(req.name)
        mine = ours.get(name)
        if name in _IGNORED or mine is None:
            continue
        if not _compatible(req.specifier, mine.specifier, name):
            found.append(Clash(name, str(req.specifier), _shown(mine.specifier)))
    return found


def pinned_clashes(requirements: Iterable[str], pins: Mapping[str, str]) -> list[Clash]:
    """Requirements that the server environment's pinned versions do not satisfy."""
    server = []
    for name, version in pins.items():
        with contextlib.suppress(InvalidRequirement):
            server.append(Requirement(f"{name}=={version}"))
    return find_clashes(requirements, server)


def _versions(paths: Iterable[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=list(paths)):
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name and name not in versions:  # the first on the path is the one imported
            versions[name] = dist.version
    return versions


def installed_clashes(server_paths: Iterable[str], user_paths: Iterable[str]) -> list[Clash]:
    """Packages installed in both environments with different versions, by name."""
    server = _versions(server_paths)
    user = _versions(user_paths)
    found = [
        Clash(name, version, server[name])
        for name, version in user.items()
        if name in server and server[name] != version and name not in _IGNORED
    ]
    return sorted(found, key=lambda c: c.package)
