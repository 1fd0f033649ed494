"""Fixtures of the control-plane tests: a control plane in-process (TestClient) whose replicas
are the stand-in server, and helpers to push a truss folder through the real API."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trussd.control.app import create_app
from trussd.control.controlplane import ControlPlane
from trussd.control.keys import create_key
from trussd.control.packaging import collect_files, pack
from trussd.control.settings import ControlSettings

from .pg_cluster import pg_unavailable_reason, throwaway_cluster

HERE = Path(__file__).parent
FIXTURES = HERE.parent / "fixtures"
ADMIN_KEY = "tdk_admin_for_tests"
STANDIN = f"{sys.executable} {HERE / 'standin_replica.py'} {{truss_dir}} {{port}}"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}"}


class Harness:
    """A running control plane and a TestClient on it."""

    def __init__(self, plane: ControlPlane, client: TestClient) -> None:
        self.plane = plane
        self.client = client

    def key(self, tenant: str, admin: bool = False) -> str:
        return create_key(self.plane.store, tenant, is_admin=admin).secret

    def upload(self, archive: Path, key: str = ADMIN_KEY) -> str:
        import hashlib

        sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        response = self.client.put(
            f"/v1/blobs/{sha}", content=archive.read_bytes(), headers=auth(key)
        )
        assert response.status_code == 201, response.text
        return sha

    def push(self, truss_dir: Path, key: str = ADMIN_KEY, promote: bool = False) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            package = pack(truss_dir, collect_files(truss_dir), Path(tmp) / "t.tar.gz")
            sha = self.upload(package.path, key)
        response = self.client.post(
            "/v1/deployments", json={"blob": sha, "promote": promote}, headers=auth(key)
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def make_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Harness]]:
    monkeypatch.setenv("TRUSSD_BOOTSTRAP_API_KEY", ADMIN_KEY)
    opened: list[TestClient] = []

    def make(**overrides: Any) -> Harness:
        settings = ControlSettings(
            data_dir=tmp_path / "data",
            replica_command=STANDIN,
            tick_seconds=0.05,
            stop_grace_seconds=5,
            **overrides,
        )
        plane = ControlPlane(settings)
        plane.bootstrap()
        client = TestClient(create_app(plane))
        client.__enter__()
        opened.append(client)
        return Harness(plane, client)

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A Postgres server for the store tests: TRUSSD_TEST_POSTGRES_URL when set, else a
    throwaway cluster of the installed PostgreSQL. Without one the tests skip on a developer
    machine but fail in CI (CI=true), where `make setup` installs the `postgresql` package."""
    given = os.environ.get("TRUSSD_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    reason = pg_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the Postgres store tests: {reason}")
        pytest.skip(reason)
    with throwaway_cluster() as url:
        yield url
