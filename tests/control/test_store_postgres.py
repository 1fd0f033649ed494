"""The same store code on Postgres: on TRUSSD_TEST_POSTGRES_URL when set, else on a throwaway
cluster of the installed PostgreSQL (the `postgres_url` fixture; CI fails without one)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from trussd.config import load_truss
from trussd.control.blobs import own_blob, owns_blob
from trussd.control.keys import authenticate, bootstrap_admin_key, create_key
from trussd.control.metering import BillingOwner, Ledger
from trussd.control.pricing import PriceTable
from trussd.control.registry import (
    DeploymentStatus,
    create_deployment,
    get_deployment,
    list_deployments,
    mark_deleted,
    promote,
    resolve_model,
    set_status,
)
from trussd.control.secrets_store import secret_env, set_secret
from trussd.control.store import Store, open_store
from trussd.control.tenants import ensure_tenant
from trussd.control.usage import cloudevents, usage_rows
from trussd.errors import NotFound, Unauthorized

from .conftest import ADMIN_KEY, FIXTURES, Harness, auth

# Every test here but the first talks to a real PostgreSQL server process.
pytestmark = pytest.mark.e2e


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead (query, e.g. a socket ``host=``, kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh database per test, dropped afterwards."""
    import psycopg

    name = "trussd_test_" + secrets.token_hex(4)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield with_database(postgres_url, name)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(database_url, tmp_path)
    yield opened
    opened.close()


def test_with_database_keeps_host_and_query() -> None:
    assert (
        with_database("postgresql://u@/postgres?host=/tmp/s", "x")
        == "postgresql://u@/x?host=/tmp/s"
    )
    assert with_database("postgresql://u:p@127.0.0.1:5/postgres", "x") == (
        "postgresql://u:p@127.0.0.1:5/x"
    )


def test_keys_tenants_secrets_and_blobs(store: Store) -> None:
    ensure_tenant(store, "default")
    admin = bootstrap_admin_key(store, None)
    assert admin is not None
    assert bootstrap_admin_key(store, None) is None
    assert authenticate(store, admin.secret).is_admin
    acme = create_key(store, "acme")
    assert authenticate(store, acme.secret).tenant == "acme"
    with pytest.raises(Unauthorized):
        authenticate(store, "nope")
    set_secret(store, "acme", "token", "v1")
    set_secret(store, "acme", "token", "v2")
    assert secret_env(store, "acme", ["token", "other"]) == {"TRUSSD_SECRET_token": "v2"}
    own_blob(store, "acme", "a" * 64)
    own_blob(store, "acme", "a" * 64)
    assert owns_blob(store, "acme", "a" * 64)
    assert not owns_blob(store, "default", "a" * 64)


def test_deployments_and_the_ledger(store: Store) -> None:
    ensure_tenant(store, "default")
    spec = load_truss(FIXTURES / "control-echo")
    common = {
        "tenant": "default",
        "spec": spec,
        "blob": "b" * 64,
        "truss_dir": "/x",
        "instance_type": "T4",
    }
    first = create_deployment(store, deployment_id="d1", promote=False, **common)  # type: ignore[arg-type]
    second = create_deployment(store, deployment_id="d2", promote=False, **common)  # type: ignore[arg-type]
    assert (first.version, first.is_production, second.version, second.is_production) == (
        1,
        True,
        2,
        False,
    )
    assert resolve_model(store, "default", "echo").id == "d1"
    promote(store, "default", "d2")
    assert resolve_model(store, "default", "echo").id == "d2"
    assert set_status(store, "d2", DeploymentStatus.ACTIVE)
    assert not set_status(store, "d2", DeploymentStatus.DEPLOYING)  # not a legal move
    with pytest.raises(NotFound):
        get_deployment(store, "acme", "d1")
    mark_deleted(store, "default", "d1")
    assert [d.id for d in list_deployments(store, "default")] == ["d2"]

    ledger = Ledger(store, PriceTable(prices={"T4": 7}))
    owner = BillingOwner("d2", "r1", "default", "echo", "T4")
    t0 = 1_800_000_000
    assert ledger.bill_interval(owner, t0, t0 + 90) == 2
    assert ledger.bill_interval(owner, t0, t0 + 90) == 0
    rows = usage_rows(store)
    assert [(r["minutes"], r["cost_micros"]) for r in rows] == [(2, 14)]
    assert len(list(cloudevents(store))) == 2


def test_control_plane_on_postgres(database_url: str, make_harness: Callable[..., Harness]) -> None:
    """The whole control plane on Postgres: push, wake a replica, invoke, meter, 404 across
    tenants."""
    harness = make_harness(database_url=database_url)
    created = harness.push(FIXTURES / "control-echo")
    response = harness.client.post(
        "/models/echo/predict", json={"hello": 1}, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 200, response.text
    assert response.json()["echo"] == {"hello": 1}
    other = harness.key("acme")
    assert (
        harness.client.post("/models/echo/predict", json={}, headers=auth(other)).status_code == 404
    )
    # A replica's first minute is billed as soon as it starts.
    rows = harness.client.get("/v1/usage", headers=auth(ADMIN_KEY)).json()["usage"]
    assert any(r["deployment"] == created["id"] and r["minutes"] >= 1 for r in rows), rows
