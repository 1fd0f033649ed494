"""Load, readiness, health and secrets through the app."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.server.conftest import FIXTURES, served, wait_loaded
from trussd.config import load_truss
from trussd.errors import ModelContractError
from trussd.server.app import create_app
from trussd.server.settings import ServerSettings


async def test_failed_load_keeps_liveness_and_reports_readiness_503(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    async with served("server-load-fails") as (_, client):
        live = await client.get("/")
        ready = await client.get("/v1/models/model")
        predict = await client.post("/predict", json={})
        again = await client.get("/v1/models/model")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["state"] == "LOAD_FAILED"
    assert "weights are corrupt" in ready.json()["error"]
    assert predict.status_code == 503
    assert predict.json()["state"] == "LOAD_FAILED"
    assert again.status_code == 503
    tracebacks = [r for r in caplog.records if "Traceback" in r.getMessage()]
    assert len(tracebacks) == 1  # logged once, not per readiness probe


async def test_slow_load_answers_liveness_while_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "loaded"
    monkeypatch.setenv("TRUSSD_TEST_LOAD_FLAG", str(flag))
    async with served("server-slow-load", wait=False) as (app, client):
        assert (await client.get("/")).status_code == 200
        loading = await client.get("/v1/models/model")
        assert loading.status_code == 503
        assert loading.json()["state"] == "LOADING"
        early = await client.post("/predict", json={})
        assert early.status_code == 503
        flag.touch()
        await wait_loaded(app)
        assert (await client.get("/v1/models/model")).status_code == 200
        assert (await client.post("/predict", json={})).json() == {"ok": True}


async def test_is_healthy_false_makes_readiness_503_and_recovers() -> None:
    async with served("server-unhealthy") as (app, client):
        model_cls = type(app.state.ctx.model.model)
        model_cls.healthy = False
        try:
            sick = await client.get("/v1/models/model")
            refused = await client.post("/predict", json={})
            model_cls.healthy = True
            well = await client.get("/v1/models/model")
        finally:
            model_cls.healthy = True
    assert sick.status_code == 503
    assert sick.json()["state"] == "UNHEALTHY"
    assert "is_healthy() returned False" in sick.json()["error"]
    assert refused.status_code == 503
    assert well.status_code == 200


def test_contract_mistake_fails_at_start_with_the_fix() -> None:
    spec = load_truss(FIXTURES / "server-bad-contract")
    with pytest.raises(ModelContractError) as info:
        create_app(spec, ServerSettings(secrets_dir=None, check_dependencies=False))
    assert "no predict method" in str(info.value)
    assert info.value.hint == "rename `predic` to `predict`"


async def test_secrets_from_env_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSSD_SECRET_api_token", "s3cret")
    async with served("server-secrets", secrets_dir=tmp_path) as (_, client):
        body = (await client.post("/predict", json={})).json()
        missing = await client.post("/predict", json={"missing": True})
    assert body == {"token_length": 6, "names": ["api_token", "missing"]}
    assert missing.status_code == 412
    assert "secret `missing` is not set" in missing.json()["error"]
    assert "TRUSSD_SECRET_missing" in missing.json()["error"]


async def test_missing_secret_at_load_is_a_failed_load_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRUSSD_SECRET_api_token", raising=False)
    monkeypatch.delenv("TRUSS_SECRET_api_token", raising=False)
    async with served("server-secrets") as (_, client):
        ready = await client.get("/v1/models/model")
    assert ready.status_code == 503
    assert "secret `api_token` is not set" in ready.json()["error"]


async def test_truss_secret_env_prefix_and_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRUSSD_SECRET_api_token", raising=False)
    monkeypatch.setenv("TRUSS_SECRET_api_token", "abc")
    async with served("server-secrets", secrets_dir=tmp_path) as (_, client):
        assert (await client.post("/predict", json={})).json()["token_length"] == 3
    monkeypatch.delenv("TRUSS_SECRET_api_token")
    (tmp_path / "api_token").write_text("from-file\n")
    async with served("server-secrets", secrets_dir=tmp_path) as (_, client):
        assert (await client.post("/predict", json={})).json()["token_length"] == 9


async def test_shutdown_moves_the_model_to_stopped() -> None:
    async with served("server-sync") as (app, _):
        wrapper = app.state.ctx.model
    assert wrapper.state.value == "STOPPED"
    await asyncio.sleep(0)


def test_a_requirement_clashing_with_the_server_is_logged_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    create_app(load_truss(FIXTURES / "image-secrets"), ServerSettings(secrets_dir=None))
    clashes = [r.getMessage() for r in caplog.records if "dependency clash" in r.getMessage()]
    assert len(clashes) == 1
    assert "`pydantic`: the truss wants <2" in clashes[0]
