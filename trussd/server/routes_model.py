"""Truss routes of a Model class: predict (streamed when the model yields) and schema, plus
the model's lifecycle wired into the app (background load, readiness, shutdown)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from trussd.errors import MethodNotFound
from trussd.model_wrapper.inputs import output_schema
from trussd.model_wrapper.state import ModelState
from trussd.model_wrapper.streams import is_stream
from trussd.model_wrapper.wrapper import ModelWrapper
from trussd.server.body import read_json
from trussd.server.context import Readiness, ServerContext
from trussd.server.disconnect import run_until_disconnect
from trussd.server.encoding import dumps
from trussd.server.gate import Slot
from trussd.server.responses import predict_stream_response, value_response
from trussd.server.routing import add_route

__all__ = ["attach_model"]


def _wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _schema(wrapper: ModelWrapper) -> dict[str, Any] | None:
    contract = wrapper.contract
    if contract is None or contract.predict is None:
        return None
    first = contract.preprocess or contract.predict
    last = contract.postprocess or contract.predict
    out, streams = output_schema(last.output_annotation)
    if first.input_model is None and out is None:
        return None
    return {
        "input_schema": first.input_model.model_json_schema() if first.input_model else None,
        "output_schema": out,
        "supports_streaming": streams or contract.predict.is_generator,
    }


def _add_lifecycle(ctx: ServerContext, wrapper: ModelWrapper) -> None:
    wrapper.lifecycle.add_listener(lambda _old, new: ctx.metrics.set_model_state(new))

    async def start() -> None:
        ctx.spawn(wrapper.begin_load(), name="trussd-model-load")

    async def stop() -> None:
        wrapper.stop()

    async def ready() -> Readiness:
        state = await wrapper.check_health()
        return Readiness(state is ModelState.READY, state.value, wrapper.lifecycle.error)

    ctx.on_startup(start)
    ctx.on_shutdown(stop)
    ctx.add_readiness_hook("model", ready)


def attach_model(app: FastAPI, ctx: ServerContext, wrapper: ModelWrapper) -> None:
    ctx.model = wrapper
    _add_lifecycle(ctx, wrapper)
    gate = ctx.gate

    async def predict(request: Request) -> Response:
        body = await read_json(request)
        wrapper.ensure_ready()

        async def work() -> tuple[Slot, Any]:
            slot = await gate.acquire()
            try:
                return slot, await wrapper.predict(body, request)
            except BaseException:
                slot.release()
                raise

        slot, result = await run_until_disconnect(request.receive, work())
        if is_stream(result):
            return predict_stream_response(result, ctx, slot, sse=_wants_sse(request))
        slot.release()
        return value_response(result)

    async def schema(request: Request) -> Response:
        value = _schema(wrapper)
        if value is None:
            raise MethodNotFound(
                "the model does not annotate its input or output with pydantic models",
                hint="annotate predict: `def predict(self, model_input: In) -> Out:`",
            )
        return Response(dumps(value), media_type="application/json")

    add_route(app, "/v1/models/model:predict", predict, ["POST"])
    add_route(app, "/predict", predict, ["POST"])
    add_route(app, "/v1/models/model/schema", schema, ["GET"])
