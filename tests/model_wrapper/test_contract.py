"""Contract mistakes are found at start, each with a hint that shows the fix."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request
from pydantic import BaseModel

from trussd.errors import ModelContractError
from trussd.model_wrapper.contract import ArgMode, check_contract


class In(BaseModel):
    x: int


def test_arg_modes_and_flags() -> None:
    class Model:
        def __init__(self, config: Any, secrets: Any) -> None: ...

        async def load(self) -> None: ...

        def preprocess(self, request: Request) -> Any: ...

        async def predict(self, model_input: In, request: Request) -> Any:
            yield 1

        def chat_completions(self) -> Any: ...

    c = check_contract(Model)
    assert c.init_kwargs == ("config", "secrets")
    assert c.load is not None
    assert c.load.is_async
    assert c.preprocess is not None
    assert c.preprocess.args is ArgMode.REQUEST
    assert c.predict is not None
    assert c.predict.args is ArgMode.INPUT_AND_REQUEST
    assert c.predict.is_generator
    assert c.predict.is_async
    assert c.predict.input_model is In
    assert c.chat_completions is not None
    assert c.chat_completions.args is ArgMode.NONE


def test_kwargs_init_gets_everything() -> None:
    class Model:
        def __init__(self, **kwargs: Any) -> None: ...

        def predict(self, x: Any) -> Any: ...

    assert check_contract(Model).init_kwargs == ("config", "data_dir", "secrets", "environment")


def _error(cls: type) -> ModelContractError:
    with pytest.raises(ModelContractError) as info:
        check_contract(cls)
    return info.value


def test_unknown_required_init_argument() -> None:
    class Model:
        def __init__(self, weights_path: str) -> None: ...

        def predict(self, x: Any) -> Any: ...

    err = _error(Model)
    assert "`weights_path`" in err.message
    assert err.hint is not None
    assert "**kwargs" in err.hint


def test_load_with_arguments() -> None:
    class Model:
        def load(self, path: str) -> None: ...

        def predict(self, x: Any) -> Any: ...

    assert _error(Model).hint == "write it as `def load(self):`"


def test_two_arguments_without_request_annotation() -> None:
    class Model:
        def predict(self, x: Any, y: Any) -> Any: ...

    err = _error(Model)
    assert "not annotated as a Request" in err.message
    assert err.hint is not None
    assert "y: Request" in err.hint


def test_request_first_is_rejected() -> None:
    class Model:
        def predict(self, request: Request, x: Any) -> Any: ...

    assert "request first" in _error(Model).message


def test_too_many_arguments() -> None:
    class Model:
        def predict(self, a: Any, b: Any, c: Any) -> Any: ...

    assert "at most two" in _error(Model).message


def test_generator_preprocess_and_postprocess_after_streaming_predict() -> None:
    class GenPre:
        def preprocess(self, x: Any) -> Any:
            yield x

        def predict(self, x: Any) -> Any: ...

    class StreamPost:
        def predict(self, x: Any) -> Any:
            yield x

        def postprocess(self, x: Any) -> Any: ...

    assert "only predict may stream" in _error(GenPre).message
    assert "postprocess can never run" in _error(StreamPost).message


def test_missing_predict_suggests_close_name() -> None:
    class Model:
        def prediction(self, x: Any) -> Any: ...

    class Empty:
        pass

    assert _error(Model).hint == "rename `prediction` to `predict`"
    assert "add `def predict" in (_error(Empty).hint or "")


def test_openai_only_model_is_valid() -> None:
    class Model:
        def chat_completions(self, body: Any) -> Any: ...

    assert check_contract(Model).predict is None


def test_websocket_model_is_refused_with_a_way_out() -> None:
    class Model:
        async def websocket(self, ws: Any) -> None: ...

    assert "websocket" in _error(Model).message
