"""Clashes between the user's requirements and trussd's server environment.

The server and the user's model share one process, so for a package both environments hold,
Python imports the server's copy (its site-packages come first on ``sys.path``). That keeps
the server working whatever the user installs, but the model then runs with the server's
version. These functions name the packages where that matters:

- ``requirement_clashes``: before the build, a user requirement whose specifier excludes the
  version the server pins (``pydantic<2`` against ``pydantic==2.14``);
- ``installed_clashes``: in the image, after both environments are installed, every package
  present in both with different versions (``clash_check`` runs it in the image).
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

__all__ = ["Clash", "installed_clashes", "requirement_clashes"]

# Installers present in every environment; their versions do not reach the model.
_IGNORED = {"pip", "setuptools", "wheel", "distribute"}


@dataclass(frozen=True)
class Clash:
    package: str
    user: str  # the user's specifier or installed version
    server: str  # the version the server's environment holds

    def render(self) -> str:
        return (
            f"`{self.package}`: the truss wants {self.user}, trussd's server has {self.server}; "
            f"the model imports the server's {self.server}"
        )


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_clashes(requirements: Iterable[str], pins: Mapping[str, str]) -> list[Clash]:
    """User requirements that the server's pinned versions do not satisfy."""
    found = []
    normalised = {_normalise(k): v for k, v in pins.items()}
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # pip options, URLs and paths: pip itself judges those
        pinned = normalised.get(_normalise(req.name))
        if pinned is None or _normalise(req.name) in _IGNORED:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.specifier and not req.specifier.contains(pinned, prereleases=True):
            found.append(Clash(_normalise(req.name), str(req.specifier), pinned))
    return sorted(found, key=lambda c: c.package)


def _versions(paths: Iterable[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=list(paths)):
        name = _normalise(dist.metadata["Name"] or "")
        if name and name not in versions:  # the first on the path is the one imported
            versions[name] = dist.version
    return versions


def installed_clashes(server_paths: Iterable[str], user_paths: Iterable[str]) -> list[Clash]:
    """Packages installed in both environments with different versions."""
    server = _versions(server_paths)
    user = _versions(user_paths)
    found = [
        Clash(name, version, server[name])
        for name, version in user.items()
        if name in server and server[name] != version and name not in _IGNORED
    ]
    return sorted(found, key=lambda c: c.package)
