"""config.yaml: Truss-compatible schema, loading with line numbers, diagnostics, resolution."""

from trussd.config.diagnostics import Diagnostic, Severity
from trussd.config.load import ValidationReport, load_truss, validate_config_data, validate_truss
from trussd.config.problems import FieldProblem
from trussd.config.report import EngineChoice, ValidationReportModel
from trussd.config.resources import Accelerator, AcceleratorSpec, Resources
from trussd.config.sections import DeploymentConfig, EngineBackend, EngineConfig, Isolation
from trussd.config.spec import TrussKind, TrussSpec
from trussd.config.truss_config import TrussConfig

__all__ = [
    "Accelerator",
    "AcceleratorSpec",
    "DeploymentConfig",
    "Diagnostic",
    "EngineBackend",
    "EngineChoice",
    "EngineConfig",
    "FieldProblem",
    "Isolation",
    "Resources",
    "Severity",
    "TrussConfig",
    "TrussKind",
    "TrussSpec",
    "ValidationReport",
    "ValidationReportModel",
    "load_truss",
    "validate_config_data",
    "validate_truss",
]
