"""Truss as the oracle: every corpus config gets the same accept/reject verdict from trussd
and from truss's own TrussConfig, except the intentional differences in docs/compat.md."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import pytest

from trussd.config.load import validate_config_data
from trussd.config.yaml_source import YamlSource, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "corpus"
COMPAT = ROOT / "docs" / "compat.md"
FILES = sorted(CORPUS.glob("*.yaml"))


def _differences() -> dict[str, tuple[bool, bool]]:
    """corpus file → (trussd accepts, truss accepts), read from the table in docs/compat.md."""
    text = COMPAT.read_text(encoding="utf-8")
    table = text.split("<!-- compat-table: begin -->")[1].split("<!-- compat-table: end -->")[0]
    out: dict[str, tuple[bool, bool]] = {}
    for row in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        files, ours, theirs = cells[1], cells[2], cells[3]
        for name in re.findall(r"`([^`]+\.yaml)`", files):
            out[name] = (ours == "accept", theirs == "accept")
    return out


DIFFERENCES = _differences()


def trussd_accepts(path: Path) -> bool:
    source = parse_yaml(path.read_text(encoding="utf-8"), path.name)
    if not isinstance(source, YamlSource):
        return False
    config, diagnostics = validate_config_data(source.data, source.locations, path.name)
    return config is not None and not any(d.severity.value == "error" for d in diagnostics)


def truss_accepts(path: Path) -> bool:
    truss_config = pytest.importorskip("truss.base.truss_config")
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            truss_config.TrussConfig.from_yaml(path)
    except Exception:  # Truss signals rejection with many exception types
        return False
    finally:
        logging.disable(logging.NOTSET)
    return True


def test_corpus_is_large_and_mixed() -> None:
    valid = [f for f in FILES if f.name.startswith("valid_")]
    invalid = [f for f in FILES if f.name.startswith("invalid_")]
    assert len(FILES) >= 60
    assert len(valid) >= 20
    assert len(invalid) >= 20
    assert len(valid) + len(invalid) == len(FILES), "corpus names start with valid_ or invalid_"


def test_compat_table_names_existing_files() -> None:
    names = {f.name for f in FILES}
    assert DIFFERENCES, "docs/compat.md lists no differences"
    assert set(DIFFERENCES) <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_same_verdict_as_truss(path: Path) -> None:
    ours = trussd_accepts(path)
    assert ours == path.name.startswith("valid_"), (
        f"trussd verdict contradicts the file name of {path.name}"
    )
    theirs = truss_accepts(path)
    expected = DIFFERENCES.get(path.name)
    if expected is None:
        assert ours == theirs, f"{path.name}: trussd accepts={ours}, truss accepts={theirs}"
    else:
        assert (ours, theirs) == expected, f"{path.name}: documented difference no longer holds"
