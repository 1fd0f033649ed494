"""parse → validate (collect every problem) → resolve → frozen ``TrussSpec``."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trussd.config.advice import advise
from trussd.config.diagnostics import Diagnostic, Severity, from_validation_error
from trussd.config.report import ValidationReportModel
from trussd.config.sections import EngineBackend, EngineConfig
from trussd.config.spec import TrussKind, TrussSpec
from trussd.config.truss_config import TrussConfig
from trussd.config.unknown_keys import find_unknown_keys
from trussd.config.yaml_source import YamlSource, read_yaml
from trussd.errors import ConfigError

CONFIG_FILE = "config.yaml"


class ValidationReport:
    """The outcome of validating a truss: the spec when valid, and every diagnostic."""

    def __init__(self, spec: TrussSpec | None, diagnostics: list[Diagnostic]) -> None:
        self.spec = spec
        self.diagnostics = diagnostics

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors

    def to_model(self, path: str | Path, strict: bool = False) -> ValidationReportModel:
        """The JSON-ready form of this report (engine selection is added by the caller)."""
        spec = self.spec if self.ok else None
        return ValidationReportModel(
            path=str(path),
            valid=self.ok,
            strict=strict,
            kind=spec.kind.value if spec else None,
            model_name=spec.model_name if spec else None,
            error_count=len(self.errors),
            warning_count=len(self.warnings),
            diagnostics=list(self.diagnostics),
        )


def _error(
    message: str, hint: str | None = None, path: str = "", file: str = CONFIG_FILE
) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, path=path, message=message, hint=hint, file=file)


def validate_config_data(
    data: Any,
    locations: dict[tuple[Any, ...], tuple[int, int]] | None = None,
    file: str = CONFIG_FILE,
    strict: bool = False,
) -> tuple[TrussConfig | None, list[Diagnostic]]:
    """Validate already-parsed YAML data into a TrussConfig, collecting every problem."""
    locations = locations or {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        return None, [
            _error(
                f"the top level must be a mapping of keys, not a {kind}",
                "start the file with keys such as `model_name: my-model`",
                file=file,
            )
        ]
    unknown = find_unknown_keys(data, TrussConfig, locations, file, strict)
    try:
        config = TrussConfig.model_validate(data)
    except ValidationError as exc:
        problems = from_validation_error(exc, locations, file, data)
        problems += _exclusive_pairs(data, locations, file, problems)
        return None, _by_line(problems + unknown)
    return config, _by_line(unknown + advise(config, data, locations, file))


# Keys of the "either one or the other" rules, which TrussConfig checks after its fields.
_EXCLUSIVE_KEYS = ("requirements", "requirements_file", "model_cache", "hf_cache", "weights")


def _exclusive_pairs(
    data: dict[str, Any],
    locations: dict[tuple[Any, ...], tuple[int, int]],
    file: str,
    found: list[Diagnostic],
) -> list[Diagnostic]:
    """pydantic skips a model's after-validators once any field fails, so a file with a bad
    field would hide `requirements` + `requirements_file`; re-check just those keys."""
    subset = {key: data[key] for key in _EXCLUSIVE_KEYS if key in data}
    if len(subset) < 2:
        return []
    try:
        TrussConfig.model_validate(subset)
    except ValidationError as exc:
        seen = {(d.path, d.message) for d in found}
        return [
            d
            for d in from_validation_error(exc, locations, file, subset)
            if (d.path, d.message) not in seen
        ]
    return []


def _by_line(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.line or 0, d.column or 0))


def _missing_config(root: Path) -> Diagnostic:
    if (root / "config.yml").is_file():
        return _error(
            "no config.yaml, but config.yml exists",
            "rename config.yml to config.yaml",
            file=str(root / CONFIG_FILE),
        )
    return _error(
        f"no config.yaml in {root}",
        "create one with `trussd init DIR`",
        file=str(root / CONFIG_FILE),
    )


def _requirements(root: Path, config: TrussConfig) -> tuple[list[str], list[Diagnostic]]:
    if not config.requirements_file:
        return list(config.requirements), []
    path = root / config.requirements_file
    # Truss accepts any path here; only a file inside the truss travels with it (and an
    # uploaded truss must not read the server's files), so the folder check confines it.
    if not path.resolve().is_relative_to(root.resolve()):
        return [], [
            _error(
                f"requirements_file `{config.requirements_file}` lies outside the truss folder",
                "move the file into the truss folder and give its path relative to it",
                path="requirements_file",
            )
        ]
    if not path.is_file():
        return [], [
            _error(
                f"requirements_file `{config.requirements_file}` does not exist",
                f"create {path} or fix the path",
                path="requirements_file",
            )
        ]
    if path.name != "requirements.txt" and path.suffix != ".txt":
        return [], []  # pyproject.toml / uv.lock: installed as a project at build time
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines, []


def _engine(config: TrussConfig) -> EngineConfig | None:
    if config.engine is not None:
        return config.engine
    if config.trt_llm is None:
        return None
    trt = config.trt_llm
    build = trt.build
    repo = build.checkpoint_repository.repo if build.checkpoint_repository else "./weights"
    quantization = build.quantization_type.value
    return EngineConfig(
        backend=EngineBackend.TRTLLM,
        model=repo,
        served_model_name=trt.runtime.served_model_name,
        max_model_len=trt.max_seq_len,
        tensor_parallel_size=trt.tensor_parallel,
        quantization=None if quantization == "no_quant" else quantization,
    )


def _model_name(root: Path, config: TrussConfig) -> str:
    if config.model_name:
        return config.model_name
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", root.name).strip("-") or "model"


def _hash(config: TrussConfig) -> str:
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def resolve(
    root: Path, config: TrussConfig, warnings: list[Diagnostic]
) -> tuple[TrussSpec | None, list[Diagnostic]]:
    """Turn a valid config into a TrussSpec, checking what lies beside it in the folder."""
    problems: list[Diagnostic] = []
    requirements, req_problems = _requirements(root, config)
    problems += req_problems
    model_dir = root / config.model_module_dir
    model_file = model_dir / config.model_class_filename
    engine = _engine(config)
    if config.docker_server is not None:
        kind = TrussKind.DOCKER_SERVER
    elif engine is not None:
        kind = TrussKind.ENGINE
    else:
        kind = TrussKind.CUSTOM
        if not model_file.is_file():
            rel = model_file.relative_to(root) if model_file.is_relative_to(root) else model_file
            problems.append(
                _error(
                    f"no Model class file at {rel}",
                    "add model/model.py with a `Model` class, or an `engine:` or "
                    "`docker_server:` section",
                    path="model_class_filename",
                )
            )
    if problems:
        return None, problems
    spec = TrussSpec(
        root=root,
        config_path=root / CONFIG_FILE,
        config=config,
        config_hash=_hash(config),
        kind=kind,
        model_name=_model_name(root, config),
        model_dir=model_dir,
        model_file=model_file,
        model_class_name=config.model_class_name,
        has_model_class=model_file.is_file(),
        data_dir=root / config.data_dir,
        packages_dir=root / config.bundled_packages_dir,
        external_package_dirs=tuple((root / p).resolve() for p in config.external_package_dirs),
        requirements=tuple(requirements),
        secret_names=tuple(config.secrets),
        engine=engine,
        deployment=config.deployment,
        warnings=tuple(warnings),
    )
    return spec, []


def validate_truss(path: str | Path, strict: bool = False) -> ValidationReport:
    """Validate a truss folder; never raises for user mistakes."""
    root = Path(path).expanduser()
    if not root.exists():
        return ValidationReport(
            None, [_error(f"{root} does not exist", "check the path", file=str(root))]
        )
    if not root.is_dir():
        return ValidationReport(
            None,
            [
                _error(
                    f"{root} is not a folder",
                    "pass the truss folder that holds config.yaml",
                    file=str(root),
                )
            ],
        )
    root = root.resolve()
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        return ValidationReport(None, [_missing_config(root)])
    source = read_yaml(config_path)
    if isinstance(source, Diagnostic):
        return ValidationReport(None, [source])
    return _validate_source(root, source, strict)


def _validate_source(root: Path, source: YamlSource, strict: bool) -> ValidationReport:
    config, diagnostics = validate_config_data(source.data, source.locations, CONFIG_FILE, strict)
    if config is None or any(d.severity is Severity.ERROR for d in diagnostics):
        return ValidationReport(None, diagnostics)
    spec, problems = resolve(root, config, diagnostics)
    return ValidationReport(spec, diagnostics + problems)


def load_truss(path: str | Path, strict: bool = False) -> TrussSpec:
    """The TrussSpec of a truss folder, or ConfigError carrying every diagnostic."""
    report = validate_truss(path, strict)
    if report.spec is None or report.errors:
        count = len(report.errors)
        lines = "\n".join(d.render() for d in report.errors)
        raise ConfigError(
            f"invalid truss ({count} problem{'s' if count != 1 else ''}):\n{lines}",
            list(report.errors),
        )
    return report.spec
