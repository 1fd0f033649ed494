"""``ModelWrapper``: one user Model instance, its lifecycle, and how requests call it.

Start: ``from_spec`` imports model.py and checks the contract (contract mistakes raise at
once). ``load()`` then runs in the background — ``__init__`` and a sync ``load`` in a worker
thread, an async ``load`` on the loop — while liveness answers. A failed load moves to
LOAD_FAILED, logs its traceback once, and readiness reports the error.

Requests: sync user methods run in a thread pool sized to ``predict_concurrency`` (a whole
sync preprocess → predict → postprocess chain is one hop); async ones run on the loop.
Generators come back as a ``ChunkStream``. User exceptions become ``UserCodeError`` chained to
the original; ``HTTPException`` raised on purpose by a model passes through (as in Truss).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from trussd.config.spec import TrussSpec
from trussd.errors import (
    MethodNotFound,
    ModelContractError,
    ModelLoadError,
    ModelNotReady,
    TrussdError,
    UserCodeError,
)
from trussd.model_wrapper.contract import ArgMode, MethodInfo, ModelContract, check_contract
from trussd.model_wrapper.discovery import import_model_class
from trussd.model_wrapper.inputs import validate_input
from trussd.model_wrapper.secrets import Secrets
from trussd.model_wrapper.state import Lifecycle, ModelState
from trussd.model_wrapper.streams import to_stream
from trussd.model_wrapper.workers import WorkerPool

__all__ = ["ModelWrapper"]

logger = logging.getLogger("trussd.model")


def _args(mode: ArgMode, value: Any, request: Request | None) -> tuple[Any, ...]:
    if mode is ArgMode.NONE:
        return ()
    if mode is ArgMode.INPUT:
        return (value,)
    if mode is ArgMode.REQUEST:
        return (request,)
    return (value, request)


def _wrap_user_error(exc: Exception, what: str) -> Exception:
    if isinstance(exc, TrussdError | HTTPException):
        return exc
    err = UserCodeError(f"{what} raised {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def _is_generator(value: Any) -> bool:
    return hasattr(value, "__anext__") or (
        hasattr(value, "__next__") and not isinstance(value, str | bytes)
    )


def _postprocess_after_stream() -> ModelContractError:
    return ModelContractError(
        "predict returned a generator, so postprocess cannot run",
        hint="do the post-processing inside predict, or return a value instead of a generator",
    )


class ModelWrapper:
    def __init__(
        self,
        spec: TrussSpec,
        contract: ModelContract | None,
        *,
        secrets: Secrets,
        environment: dict[str, Any] | None = None,
        workers: int = 1,
        import_error: ModelLoadError | None = None,
    ) -> None:
        self.spec = spec
        self.contract = contract
        self.secrets = secrets
        self.environment = environment
        self.lifecycle = Lifecycle()
        # One thread per concurrent request plus one for load/is_healthy.
        self.workers = WorkerPool(workers + 1)
        self._import_error = import_error
        self._model: Any = None

    @classmethod
    def from_spec(
        cls,
        spec: TrussSpec,
        *,
        secrets_dir: Path | None = None,
        environment: dict[str, Any] | None = None,
        workers: int = 1,
    ) -> ModelWrapper:
        """Import and check the Model class. Raises ModelContractError for contract mistakes."""
        secrets = Secrets(spec.secret_names, secrets_dir)
        try:
            contract = check_contract(import_model_class(spec))
        except ModelLoadError as exc:
            return cls(
                spec,
                None,
                secrets=secrets,
                environment=environment,
                workers=workers,
                import_error=exc,
            )
        return cls(spec, contract, secrets=secrets, environment=environment, workers=workers)

    @property
    def state(self) -> ModelState:
        return self.lifecycle.state

    @property
    def model(self) -> Any:
        return self._model

    def _init_kwargs(self) -> dict[str, Any]:
        assert self.contract is not None
        available: dict[str, Any] = {
            "config": self.spec.config.model_dump(mode="json"),
            "data_dir": self.spec.data_dir,
            "secrets": self.secrets,
            "environment": self.environment,
        }
        return {k: available[k] for k in self.contract.init_kwargs}

    # -- lifecycle ----------------------------------------------------------------------------

    def begin_load(self) -> Coroutine[Any, Any, None]:
        """Enter LOADING now (readiness says so at once) and return the loading coroutine."""
        if self._import_error is None and self.lifecycle.can(ModelState.LOADING):
            self.lifecycle.transition(ModelState.LOADING)
        return self.load()

    async def load(self) -> None:
        """Instantiate and load the model; never raises (the outcome is the state)."""
        try:
            if self._import_error is not None:
                raise self._import_error
            if self.state is ModelState.STARTING:
                self.lifecycle.transition(ModelState.LOADING)
            contract = self.contract
            assert contract is not None
            self._model = await self.workers.run(lambda: contract.cls(**self._init_kwargs()))
            if contract.load is not None:
                result = (
                    await self._model.load()
                    if contract.load.is_async
                    else await self.workers.run(self._model.load)
                )
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._fail_load(exc)
            return
        if self.lifecycle.can(ModelState.READY):
            self.lifecycle.transition(ModelState.READY)
            logger.info("model %s is ready", self.spec.model_name)

    def _fail_load(self, exc: BaseException) -> None:
        cause = exc.__cause__ if isinstance(exc, ModelLoadError) and exc.__cause__ else exc
        where = "importing model.py" if isinstance(exc, ModelLoadError) else "loading the model"
        message = f"{where} failed: {type(cause).__name__}: {cause}"
        logger.error(
            "%s\n%s",
            message,
            "".join(traceback.format_exception(type(cause), cause, cause.__traceback__)),
        )
        if self.lifecycle.can(ModelState.LOAD_FAILED):
            self.lifecycle.transition(ModelState.LOAD_FAILED, error=message)

    async def check_health(self) -> ModelState:
        """Run ``is_healthy`` (when defined and loaded) and move between READY and UNHEALTHY."""
        contract = self.contract
        if (
            contract is None
            or contract.is_healthy is None
            or self.state not in (ModelState.READY, ModelState.UNHEALTHY)
        ):
            return self.state
        try:
            if contract.is_healthy.is_async:
                healthy = await self._model.is_healthy()
            else:
                healthy = await self.workers.run(self._model.is_healthy)
            error = None if healthy else "is_healthy() returned False"
        except Exception as exc:
            healthy, error = False, f"is_healthy() raised {type(exc).__name__}: {exc}"
        target = ModelState.READY if healthy else ModelState.UNHEALTHY
        if self.lifecycle.can(target) or self.state is target:
            self.lifecycle.transition(target, error=error)
        return self.state

    def stop(self) -> None:
        if self.lifecycle.can(ModelState.STOPPING):
            self.lifecycle.transition(ModelState.STOPPING)
        self.workers.shutdown()
        if self.lifecycle.can(ModelState.STOPPED):
            self.lifecycle.transition(ModelState.STOPPED)

    def ensure_ready(self) -> None:
        state = self.state
        if state is ModelState.READY:
            return
        message = {
            ModelState.LOAD_FAILED: f"the model failed to load: {self.lifecycle.error}",
            ModelState.UNHEALTHY: f"the model is unhealthy: {self.lifecycle.error}",
        }.get(state, f"the model is not ready (state {state.value})")
        raise ModelNotReady(message, state=state.value)

    # -- calls ----------------------------------------------------------------------------------

    def require_method(self, name: str) -> None:
        """Raise MethodNotFound unless the Model defines ``name``."""
        self._method(name)

    def _method(self, name: str) -> MethodInfo:
        info = self.contract.method(name) if self.contract is not None else None
        if info is None:
            raise MethodNotFound(
                f"the model has no `{name}` method",
                hint=f"define `def {name}(self, model_input):` on the Model class",
            )
        return info

    async def _call(self, info: MethodInfo, value: Any, request: Request | None) -> Any:
        fn = getattr(self._model, info.name)
        args = _args(info.args, value, request)
        try:
            if info.is_generator:
                return fn(*args)
            if info.is_async:
                return await fn(*args)
            # the worker runs in a copy of our context: the request id reaches its logs
            result = await self.workers.run(fn, *args)
            if inspect.isawaitable(result):
                result = await result
            return result
        except Exception as exc:
            raise _wrap_user_error(exc, f"{info.name}()") from exc

    def _sync_chain(self, infos: list[MethodInfo], value: Any, request: Request | None) -> Any:
        for i, info in enumerate(infos):
            try:
                value = getattr(self._model, info.name)(*_args(info.args, value, request))
            except Exception as exc:
                raise _wrap_user_error(exc, f"{info.name}()") from exc
            if info.name == "predict" and i + 1 < len(infos) and _is_generator(value):
                raise _postprocess_after_stream()
        return value

    async def predict(self, body: Any, request: Request | None = None) -> Any:
        """preprocess → predict → postprocess. A generator result comes back as a ChunkStream."""
        self.ensure_ready()
        predict = self._method("predict")
        assert self.contract is not None
        pre, post = self.contract.preprocess, self.contract.postprocess
        value = validate_input(pre or predict, body)
        chain = [m for m in (pre, predict, post) if m is not None]
        if not any(m.is_async or m.is_generator for m in chain):
            result = await self.workers.run(self._sync_chain, chain, value, request)
            stream = to_stream(result, self.workers)
            return result if stream is None else stream
        if pre is not None:
            value = await self._call(pre, value, request)
        result = await self._call(predict, value, request)
        stream = to_stream(result, self.workers)
        if stream is not None:
            if post is not None:
                raise _postprocess_after_stream()
            return stream
        if post is None:
            return result
        return await self._call(post, result, request)

    async def call_method(self, name: str, body: Any, request: Request | None = None) -> Any:
        """Call an OpenAI-style method (chat_completions, completions, embeddings)."""
        self.ensure_ready()
        info = self._method(name)
        value = validate_input(info, body)
        result = await self._call(info, value, request)
        stream = to_stream(result, self.workers)
        return stream if stream is not None else result
