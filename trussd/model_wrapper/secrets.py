"""``Secrets``: the read-only mapping a Model gets as ``secrets``.

A secret ``name`` is looked up, in order, in the environment variables
``TRUSSD_SECRET_<name>`` and ``TRUSS_SECRET_<name>`` (with any character outside
``[A-Za-z0-9_]`` turned into ``_``), then in the file ``<secrets_dir>/<name>``. A missing
secret raises ``SecretNotFound`` naming it and the places that were searched. Values are
read on each access, so a rotated secret file is seen without a restart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from trussd.errors import SecretNotFound

__all__ = ["ENV_PREFIXES", "Secrets", "secret_env_names"]

ENV_PREFIXES = ("TRUSSD_SECRET_", "TRUSS_SECRET_")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def secret_env_names(name: str) -> list[str]:
    names = []
    for prefix in ENV_PREFIXES:
        for variant in dict.fromkeys((name, _UNSAFE.sub("_", name))):
            names.append(prefix + variant)
    return names


class Secrets(Mapping[str, str]):
    """Declared secret names (``secrets:`` in config.yaml) → values, resolved on access."""

    def __init__(
        self,
        declared: Iterable[str],
        secrets_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._declared = tuple(declared)
        self._dir = secrets_dir
        self._environ = environ if environ is not None else os.environ

    def _lookup(self, name: str) -> str | None:
        for env_name in secret_env_names(name):
            value = self._environ.get(env_name)
            if value is not None:
                return value
        if self._dir is not None and "/" not in name and name not in {".", ".."}:
            path = self._dir / name
            if path.is_file():
                return path.read_text().strip()
        return None

    def __getitem__(self, name: str) -> str:
        value = self._lookup(name)
        if value is None:
            raise SecretNotFound(self._missing_message(name), hint=self._hint(name))
        return value

    def _missing_message(self, name: str) -> str:
        places = ", ".join(f"${n}" for n in secret_env_names(name))
        if self._dir is not None:
            places += f" or the file {self._dir / name}"
        return f"secret `{name}` is not set (looked in {places})"

    def _hint(self, name: str) -> str:
        hint = f"export {ENV_PREFIXES[0]}{_UNSAFE.sub('_', name)}=..."
        if name not in self._declared:
            hint += f" and declare it in config.yaml under `secrets:` ({name}: null)"
        return hint

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = self._lookup(name)
        return default if value is None else value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)

    def __repr__(self) -> str:
        # Never print values.
        return f"Secrets({list(self._declared)!r})"
