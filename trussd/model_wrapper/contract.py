"""Check a Model class against the Truss Model contract, once, at start.

Every mistake found here becomes a ``ModelContractError`` whose hint shows the fix, so a
broken model fails at start with a sentence instead of at the first request with a traceback.

The contract (as in Truss):
- ``__init__`` takes any of ``config``, ``data_dir``, ``secrets``, ``environment`` by name, or
  ``**kwargs`` for all of them.
- ``load()`` and ``is_healthy()`` take no arguments; both may be ``async``.
- ``preprocess``, ``predict``, ``postprocess``, ``chat_completions``, ``completions``,
  ``embeddings`` take ``(model_input)``, ``(request: Request)``, ``(model_input, request:
  Request)`` or nothing; each may be sync or async, and ``predict`` and the OpenAI methods may
  be (async) generators, which stream.
"""

from __future__ import annotations

import difflib
import enum
import inspect
import typing
from dataclasses import dataclass
from typing import Any

import pydantic
from starlette.requests import Request

from trussd.errors import ModelContractError

__all__ = [
    "INIT_KWARGS",
    "OPENAI_METHODS",
    "ArgMode",
    "MethodInfo",
    "ModelContract",
    "check_contract",
]

INIT_KWARGS = ("config", "data_dir", "secrets", "environment")
OPENAI_METHODS = ("chat_completions", "completions", "embeddings")
_CALL_METHODS = ("preprocess", "predict", "postprocess", *OPENAI_METHODS)


class ArgMode(enum.Enum):
    NONE = "none"
    INPUT = "input"
    REQUEST = "request"
    INPUT_AND_REQUEST = "input_and_request"


@dataclass(frozen=True)
class MethodInfo:
    name: str
    is_async: bool
    is_generator: bool
    args: ArgMode
    input_model: type[pydantic.BaseModel] | None = None
    output_annotation: Any = None


@dataclass(frozen=True)
class ModelContract:
    cls: type
    init_kwargs: tuple[str, ...]
    load: MethodInfo | None
    is_healthy: MethodInfo | None
    preprocess: MethodInfo | None
    predict: MethodInfo | None
    postprocess: MethodInfo | None
    chat_completions: MethodInfo | None
    completions: MethodInfo | None
    embeddings: MethodInfo | None

    def method(self, name: str) -> MethodInfo | None:
        info = getattr(self, name, None)
        return info if isinstance(info, MethodInfo) else None


def _is_request(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Request)


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        return dict(getattr(fn, "__annotations__", {}))


def _params(cls: type, name: str, fn: Any) -> list[inspect.Parameter]:
    params = list(inspect.signature(fn).parameters.values())
    if isinstance(inspect.getattr_static(cls, name), staticmethod):
        return params
    return params[1:]  # self


def _arg_mode(cls: type, name: str, fn: Any) -> ArgMode:
    params = _params(cls, name, fn)
    hints = _hints(fn)
    call = f"{cls.__name__}.{name}"
    fix = (
        f"write it as `def {name}(self, model_input)` or "
        f"`def {name}(self, model_input, request: Request)`"
    )
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        raise ModelContractError(f"{call} must not take *args or **kwargs", hint=fix)
    if len(params) == 0:
        return ArgMode.NONE
    if len(params) == 1:
        return ArgMode.REQUEST if _is_request(hints.get(params[0].name)) else ArgMode.INPUT
    if len(params) == 2:
        if _is_request(hints.get(params[0].name)):
            raise ModelContractError(
                f"{call} takes the request first; it must come second", hint=fix
            )
        if not _is_request(hints.get(params[1].name)):
            raise ModelContractError(
                f"{call} takes two arguments but the second is not annotated as a Request",
                hint=f"annotate it: `def {name}(self, model_input, {params[1].name}: Request)` "
                "(Request from starlette.requests or fastapi)",
            )
        return ArgMode.INPUT_AND_REQUEST
    raise ModelContractError(
        f"{call} takes {len(params)} arguments; at most two are allowed", hint=fix
    )


def _input_model(fn: Any, mode: ArgMode, cls: type, name: str) -> type[pydantic.BaseModel] | None:
    if mode not in (ArgMode.INPUT, ArgMode.INPUT_AND_REQUEST):
        return None
    first = _params(cls, name, fn)[0]
    annotation = _hints(fn).get(first.name)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return None


def _method(cls: type, name: str) -> MethodInfo | None:
    fn = getattr(cls, name, None)
    if fn is None:
        return None
    if not callable(fn):
        raise ModelContractError(
            f"{cls.__name__}.{name} is not a method", hint=f"define `def {name}(self, ...)`"
        )
    is_agen = inspect.isasyncgenfunction(fn)
    is_gen = inspect.isgeneratorfunction(fn) or is_agen
    if name in ("load", "is_healthy"):
        if _params(cls, name, fn):
            raise ModelContractError(
                f"{cls.__name__}.{name} must take no arguments",
                hint=f"write it as `def {name}(self):`",
            )
        mode = ArgMode.NONE
    else:
        mode = _arg_mode(cls, name, fn)
    return MethodInfo(
        name=name,
        is_async=inspect.iscoroutinefunction(fn) or is_agen,
        is_generator=is_gen,
        args=mode,
        input_model=_input_model(fn, mode, cls, name),
        output_annotation=_hints(fn).get("return"),
    )


def _init_kwargs(cls: type) -> tuple[str, ...]:
    init = vars(cls).get("__init__") or next(
        (vars(base)["__init__"] for base in cls.__mro__ if "__init__" in vars(base)),
        object.__init__,
    )
    if init is object.__init__:
        return ()
    params = list(inspect.signature(init).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return INIT_KWARGS
    unknown = [
        p.name
        for p in params
        if p.name not in INIT_KWARGS and p.default is p.empty and p.kind != p.VAR_POSITIONAL
    ]
    if unknown:
        raise ModelContractError(
            f"{cls.__name__}.__init__ requires {', '.join(f'`{u}`' for u in unknown)}, "
            "which trussd cannot pass",
            hint=f"accept only {', '.join(INIT_KWARGS)} (by name) or **kwargs",
        )
    return tuple(p.name for p in params if p.name in INIT_KWARGS)


def _check_shape(contract: ModelContract) -> None:
    name = contract.cls.__name__
    if contract.preprocess is not None and contract.preprocess.is_generator:
        raise ModelContractError(
            f"{name}.preprocess is a generator; only predict may stream",
            hint="return the processed input from preprocess instead of yielding it",
        )
    if (
        contract.predict is not None
        and contract.predict.is_generator
        and contract.postprocess is not None
    ):
        raise ModelContractError(
            f"{name}.predict streams (it is a generator), so postprocess can never run",
            hint="do the post-processing inside predict and delete postprocess",
        )
    if contract.predict is None and callable(getattr(contract.cls, "websocket", None)):
        raise ModelContractError(
            f"{name} is a websocket Model (it defines `websocket`); trussd cannot serve it yet",
            hint="serve it with Truss, or expose the same logic as `predict` (streamed if needed)",
        )
    if contract.predict is None and not any(contract.method(m) for m in OPENAI_METHODS):
        members = [m for m in dir(contract.cls) if not m.startswith("_")]
        close = difflib.get_close_matches("predict", members, n=1, cutoff=0.6)
        hint = (
            f"rename `{close[0]}` to `predict`"
            if close
            else "add `def predict(self, model_input):` (or chat_completions for OpenAI routes)"
        )
        raise ModelContractError(f"{name} has no predict method", hint=hint)


def check_contract(cls: type) -> ModelContract:
    """Return the checked description of ``cls`` or raise ModelContractError with the fix."""
    methods = {m: _method(cls, m) for m in ("load", "is_healthy", *_CALL_METHODS)}
    contract = ModelContract(cls=cls, init_kwargs=_init_kwargs(cls), **methods)
    _check_shape(contract)
    return contract
