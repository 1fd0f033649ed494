"""Fixtures of the backend tests: an app serving an engine truss whose engine is the fake one."""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from trussd.backends import registry
from trussd.backends.state import EngineState
from trussd.config import load_truss
from trussd.server import engine_front
from trussd.server.app import create_app
from trussd.server.settings import ServerSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def wait_state(client: TestClient, *states: EngineState, timeout: float = 30.0) -> EngineState:
    supervisor = client.app.state.engine.supervisor  # type: ignore[attr-defined]
    waiter = functools.partial(supervisor.wait_for, *states, timeout=timeout)
    assert client.portal is not None
    state: EngineState = client.portal.call(waiter)
    return state


def wait_ready_http(client: TestClient, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/v1/models/model").status_code == 200:
            return
        time.sleep(0.05)
    raise TimeoutError("the server did not become ready")


def _serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str, **policy: float
) -> Iterator[TestClient]:
    if policy:
        patched = functools.partial(engine_front.RestartPolicy, **policy)
        monkeypatch.setattr(engine_front, "RestartPolicy", patched)
    monkeypatch.setitem(registry.BACKENDS, "transformers", f"tests.backends.fake_backend:{backend}")
    root = tmp_path / "engine-fake"
    shutil.copytree(FIXTURES / "engine-fake", root)
    app = create_app(load_truss(root), ServerSettings(check_dependencies=False))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def fake_engine_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    """A started app in front of the fake engine (not yet waited for)."""
    yield from _serve(monkeypatch, tmp_path, "FakeBackend")


@pytest.fixture
def fake_engine_slow_restart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[TestClient]:
    """Like fake_engine_client, with a 3 s pause before a restart (time to look at it)."""
    yield from _serve(monkeypatch, tmp_path, "FakeBackend", backoff_initial=3.0)


@pytest.fixture
def fake_metrics_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    yield from _serve(monkeypatch, tmp_path, "FakeMetricsBackend")
