"""The truss's own files, split into the image's layers (least to most often changed).

Each layer is a mapping of path under ``/app`` → bytes. What never goes in:

- caches and tooling (``__pycache__``, ``.git``, virtual environments …) and whatever
  ``.trussdignore`` (or Truss's ``.truss_ignore``) names, one glob per line;
- local weights unless they are baked (``--bake-weights``): they are mounted or fetched at
  start, so a new checkpoint does not rebuild the image and an image stays small;
- the value of any ``secrets:`` entry in config.yaml: the copy in the image keeps the names
  with ``null`` values; secrets reach a replica at run time only.
"""

from __future__ import annotations

import fnmatch
import io
import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ruamel.yaml import YAML

from trussd.config.spec import TrussKind, TrussSpec

__all__ = ["DEFAULT_IGNORES", "TrussFiles", "collect_files", "weights_dir"]

DEFAULT_IGNORES = (
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "*.pyc",
    "*.pyo",
    ".DS_Store",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "node_modules",
    ".trussdignore",
    ".truss_ignore",
    ".env",
)
_IGNORE_FILES = (".trussdignore", ".truss_ignore")
CONFIG_NAME = "config.yaml"


@dataclass
class TrussFiles:
    """Files of the truss per layer, paths relative to ``/app``."""

    packages: dict[str, bytes] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    weights: dict[str, bytes] = field(default_factory=dict)
    code: dict[str, bytes] = field(default_factory=dict)
    config: bytes = b""
    #: folder in the image → its files, for `external_package_dirs` (outside the truss)
    external: dict[str, dict[str, bytes]] = field(default_factory=dict)
    #: path of the weights folder relative to /app when it was left out (not baked)
    weights_left_out: str | None = None
    scrubbed_secrets: tuple[str, ...] = ()


def _ignore_patterns(root: Path) -> list[str]:
    patterns = list(DEFAULT_IGNORES)
    for name in _IGNORE_FILES:
        path = root / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    patterns.append(line.rstrip("/"))
    return patterns


def _ignored(rel: PurePosixPath, patterns: list[str]) -> bool:
    text = rel.as_posix()
    for pattern in patterns:
        if "/" in pattern.strip("/"):
            if fnmatch.fnmatch(text, pattern.strip("/")) or text.startswith(
                pattern.strip("/") + "/"
            ):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in rel.parts):
            return True
    return False


def weights_dir(spec: TrussSpec) -> str | None:
    """The engine's local weights folder, relative to the truss root, when it lies inside it."""
    if spec.kind is not TrussKind.ENGINE:
        return None
    path = spec.engine_model_path()
    if path is None or not Path(path).is_dir():
        return None
    resolved = Path(path)
    if not resolved.is_relative_to(spec.root) or resolved == spec.root:
        return None
    return resolved.relative_to(spec.root).as_posix()


def scrub_secrets(text: str) -> tuple[str, tuple[str, ...]]:
    """config.yaml with every ``secrets:`` value replaced by null (comments kept)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    data = yaml.load(text)
    secrets = data.get("secrets") if isinstance(data, dict) else None
    if not isinstance(secrets, dict):
        return text, ()
    names = tuple(str(k) for k, v in secrets.items() if v not in (None, ""))
    if not names:
        return text, ()
    for name in names:
        secrets[name] = None
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue(), names


def _layer_of(rel: PurePosixPath, spec: TrussSpec, weights: str | None) -> str:
    first = rel.parts[0]
    if weights is not None and (rel.as_posix() + "/").startswith(weights + "/"):
        return "weights"
    if spec.packages_dir.name == first and spec.packages_dir.parent == spec.root:
        return "packages"
    if spec.data_dir.name == first and spec.data_dir.parent == spec.root:
        return "data"
    return "code"


def _external(spec: TrussSpec, patterns: list[str]) -> dict[str, dict[str, bytes]]:
    """Each external package folder, at the path the server resolves it to from ``/app``."""
    result: dict[str, dict[str, bytes]] = {}
    for written, folder in zip(
        spec.config.external_package_dirs, spec.external_package_dirs, strict=True
    ):
        target = posixpath.normpath(posixpath.join("/app", PurePosixPath(written).as_posix()))
        content: dict[str, bytes] = {}
        for path in sorted(folder.rglob("*")):
            rel = PurePosixPath(path.relative_to(folder).as_posix())
            if path.is_file() and not path.is_symlink() and not _ignored(rel, patterns):
                content[rel.as_posix()] = path.read_bytes()
        result[target] = content
    return result


def collect_files(spec: TrussSpec, *, bake_weights: bool) -> TrussFiles:
    """Every file of the truss that belongs in the image, sorted into layers."""
    files = TrussFiles()
    patterns = _ignore_patterns(spec.root)
    weights = weights_dir(spec)
    for path in sorted(spec.root.rglob("*")):
        rel = PurePosixPath(path.relative_to(spec.root).as_posix())
        if not path.is_file() or path.is_symlink() or _ignored(rel, patterns):
            continue
        if rel.as_posix() == CONFIG_NAME:
            text, files.scrubbed_secrets = scrub_secrets(path.read_text(encoding="utf-8"))
            files.config = text.encode()
            continue
        layer = _layer_of(rel, spec, weights)
        if layer == "weights" and not bake_weights:
            files.weights_left_out = weights
            continue
        getattr(files, layer)[rel.as_posix()] = path.read_bytes()
    if weights is not None and not bake_weights:
        files.weights_left_out = weights
    files.external = _external(spec, patterns)
    return files
