"""docs/config.schema.json and docs/config.md are generated; they must match the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from trussd.cli.init_templates import BACKENDS, render_truss
from trussd.config.docgen import config_schema, render_markdown, schema_text
from trussd.config.yaml_source import YamlSource, parse_yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"
FIX = "run `.venv/bin/python scripts/gen_config_docs.py`"


def test_schema_file_is_current() -> None:
    assert (DOCS / "config.schema.json").read_text(encoding="utf-8") == schema_text(), FIX


def test_markdown_reference_is_current() -> None:
    assert (DOCS / "config.md").read_text(encoding="utf-8") == render_markdown(), FIX


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"TrussConfig.{n}", p) for n, p in schema["properties"].items()]
    for model, definition in schema["$defs"].items():
        for holder in [definition, *definition.get("anyOf", [])]:
            found += [(f"{model}.{n}", p) for n, p in holder.get("properties", {}).items()]
    return found


def test_every_field_has_a_description() -> None:
    missing = [name for name, prop in _properties(config_schema()) if not prop.get("description")]
    assert not missing


def test_every_top_level_field_is_documented() -> None:
    text = render_markdown()
    for name in config_schema()["properties"]:
        assert f"| `{name}` |" in text


def test_init_templates_match_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    for backend in BACKENDS:
        source = parse_yaml(render_truss(backend, "demo")["config.yaml"])
        assert isinstance(source, YamlSource)
        assert not list(validator.iter_errors(source.data)), backend


def test_every_valid_corpus_config_matches_the_schema() -> None:
    # The schema is for editors: it must never flag a config trussd accepts.
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    corpus = Path(__file__).parent / "corpus"
    for path in sorted(corpus.glob("valid_*.yaml")):
        source = parse_yaml(path.read_text(encoding="utf-8"))
        assert isinstance(source, YamlSource)
        errors = [e.message for e in validator.iter_errors(source.data or {})]
        assert not errors, (path.name, errors[:1])
