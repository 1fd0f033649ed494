"""The same store code on Postgres. Skipped unless TRUSSD_TEST_POSTGRES_URL points at a server
where the user may create databases, e.g. postgresql://postgres@127.0.0.1:5432/postgres."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

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

from .conftest import FIXTURES

URL = os.environ.get("TRUSSD_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set TRUSSD_TEST_POSTGRES_URL to run on Postgres")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    import psycopg

    assert URL
    name = "trussd_test_" + secrets.token_hex(4)
    with psycopg.connect(URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    opened = open_store(URL.rsplit("/", 1)[0] + "/" + name, tmp_path)
    yield opened
    opened.close()
    with psycopg.connect(URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name}")


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
