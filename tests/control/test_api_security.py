"""Keys, tenants and uploads, in-process (the runtime is not started: nothing is spawned)."""

from __future__ import annotations

import errno
import hashlib
import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from trussd.control import unpack
from trussd.control.app import create_app
from trussd.control.controlplane import ControlPlane
from trussd.control.keys import create_key, hash_key
from trussd.control.packaging import collect_files, pack
from trussd.control.settings import ControlSettings

from .conftest import ADMIN_KEY, FIXTURES, auth


class Api:
    def __init__(self, plane: ControlPlane, client: httpx.AsyncClient) -> None:
        self.plane, self.client = plane, client

    async def upload(self, data: bytes, key: str = ADMIN_KEY) -> str:
        sha = hashlib.sha256(data).hexdigest()
        response = await self.client.put(f"/v1/blobs/{sha}", content=data, headers=auth(key))
        assert response.status_code == 201, response.text
        return sha

    async def push(self, truss: Path, key: str, tmp: Path) -> httpx.Response:
        package = pack(truss, collect_files(truss), tmp / f"{truss.name}.tar.gz")
        sha = await self.upload(package.path.read_bytes(), key)
        return await self.client.post("/v1/deployments", json={"blob": sha}, headers=auth(key))


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setenv("TRUSSD_BOOTSTRAP_API_KEY", ADMIN_KEY)
    plane = ControlPlane(ControlSettings(data_dir=tmp_path / "data", max_upload_bytes=1 << 20))
    plane.bootstrap()
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
        yield Api(plane, client)
    await plane.runtime.client.aclose()
    plane.store.close()


ROUTES = [
    ("GET", "/v1/deployments"),
    ("GET", "/v1/usage"),
    ("GET", "/metrics"),
    ("PUT", "/v1/secrets/x"),
    ("POST", "/models/echo/predict"),
    ("POST", "/models/echo/v1/chat/completions"),
    ("GET", "/models/echo/v1/models"),
    ("HEAD", "/v1/blobs/" + "0" * 64),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("header", [None, "Api-Key wrong", "Bearer wrong", "Basic abc", "Api-Key"])
async def test_every_route_needs_a_valid_key(
    api: Api, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await api.client.request(method, path, headers=headers, json={})
    assert response.status_code == 401


async def test_bearer_and_api_key_forms_both_work(api: Api) -> None:
    for header in (f"Api-Key {ADMIN_KEY}", f"Bearer {ADMIN_KEY}", f"api-key  {ADMIN_KEY} "):
        response = await api.client.get("/v1/whoami", headers={"Authorization": header})
        assert response.status_code == 200
        assert response.json() == {
            "tenant": "default",
            "admin": True,
            "key_id": response.json()["key_id"],
        }


async def test_keys_are_stored_hashed(api: Api) -> None:
    key = create_key(api.plane.store, "acme").secret
    rows = api.plane.store.query("SELECT * FROM api_keys")
    dump = repr(rows)
    assert key not in dump
    assert ADMIN_KEY not in dump
    assert hash_key(key) in dump
    assert (api.plane.settings.data_dir / "trussd.db").read_bytes().find(key.encode()) == -1


async def test_revoked_keys_stop_working(api: Api) -> None:
    created = (
        await api.client.post("/v1/keys", json={"tenant": "acme"}, headers=auth(ADMIN_KEY))
    ).json()
    assert (await api.client.get("/v1/whoami", headers=auth(created["key"]))).status_code == 200
    revoked = await api.client.delete(f"/v1/keys/{created['id']}", headers=auth(ADMIN_KEY))
    assert revoked.status_code == 200
    assert (await api.client.get("/v1/whoami", headers=auth(created["key"]))).status_code == 401


async def test_admin_routes_refuse_tenant_keys(api: Api) -> None:
    tenant_key = create_key(api.plane.store, "acme").secret
    for method, path in [("POST", "/v1/keys"), ("GET", "/v1/keys"), ("GET", "/metrics")]:
        response = await api.client.request(method, path, headers=auth(tenant_key), json={})
        assert response.status_code == 401


async def test_another_tenants_model_is_not_found(api: Api, tmp_path: Path) -> None:
    acme = create_key(api.plane.store, "acme").secret
    other = create_key(api.plane.store, "globex").secret
    pushed = await api.push(FIXTURES / "control-echo", acme, tmp_path)
    assert pushed.status_code == 201, pushed.text
    dep = pushed.json()["id"]
    for method, path in [
        ("POST", "/models/echo/predict"),
        ("POST", "/models/echo/v1/chat/completions"),
        ("POST", f"/models/echo/deployments/{dep}/predict"),
        ("GET", f"/v1/deployments/{dep}"),
        ("GET", f"/v1/deployments/{dep}/logs"),
        ("POST", f"/v1/deployments/{dep}/promote"),
        ("DELETE", f"/v1/deployments/{dep}"),
    ]:
        response = await api.client.request(method, path, headers=auth(other), json={})
        assert response.status_code == 404, (method, path, response.text)
    listed = (await api.client.get("/v1/deployments", headers=auth(other))).json()
    assert listed == {"deployments": []}
    mine = (await api.client.get("/v1/deployments", headers=auth(acme))).json()["deployments"]
    assert [d["id"] for d in mine] == [dep]
    assert mine[0]["tenant"] == "acme"
    assert mine[0]["is_production"]


async def test_a_config_for_another_tenant_is_refused(api: Api, tmp_path: Path) -> None:
    globex = create_key(api.plane.store, "globex").secret
    response = await api.push(FIXTURES / "control-other-tenant", globex, tmp_path)
    assert response.status_code == 409
    assert "acme" in response.json()["error"]
    assert not list(api.plane.settings.deployments_dir.iterdir())


async def test_secrets_are_per_tenant_and_never_listed_with_values(api: Api) -> None:
    acme, globex = (
        create_key(api.plane.store, "acme").secret,
        create_key(api.plane.store, "globex").secret,
    )
    assert (
        await api.client.put("/v1/secrets/token", json={"value": "s3cret"}, headers=auth(acme))
    ).is_success
    listed = await api.client.get("/v1/secrets", headers=auth(acme))
    assert listed.json() == {"secrets": ["token"]}
    assert "s3cret" not in listed.text
    assert (await api.client.get("/v1/secrets", headers=auth(globex))).json() == {"secrets": []}
    assert (await api.client.delete("/v1/secrets/token", headers=auth(globex))).status_code == 404
    bad = await api.client.put("/v1/secrets/a%20b", json={"value": "x"}, headers=auth(acme))
    assert bad.status_code == 400


def _evil_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"model_name: evil\n"
        ti = tarfile.TarInfo("config.yaml")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
        escape = tarfile.TarInfo("../../escaped.txt")
        escape.size = 4
        tar.addfile(escape, io.BytesIO(b"evil"))
    return buffer.getvalue()


async def test_a_malicious_push_is_rejected_and_leaves_nothing(api: Api, tmp_path: Path) -> None:
    sha = await api.upload(_evil_archive())
    before = set(tmp_path.rglob("*"))
    response = await api.client.post("/v1/deployments", json={"blob": sha}, headers=auth(ADMIN_KEY))
    assert response.status_code == 422
    assert ".." in response.json()["error"]
    assert set(tmp_path.rglob("*")) - before <= {api.plane.settings.deployments_dir}
    assert not list(api.plane.settings.deployments_dir.iterdir())
    assert not list(tmp_path.rglob("escaped.txt"))
    assert api.plane.store.query("SELECT id FROM deployments") == []
    # Nor the hostile archive itself: no file, no tenant's claim on it.
    assert not api.plane.blobs.exists(sha)
    assert api.plane.store.query("SELECT sha256 FROM blob_owners") == []
    again = await api.client.post("/v1/deployments", json={"blob": sha}, headers=auth(ADMIN_KEY))
    assert again.status_code == 404


async def test_a_server_failure_while_unpacking_keeps_the_blob(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full says nothing about the archive: a 5xx, and the upload stays for a retry."""
    truss = FIXTURES / "control-echo"
    package = pack(truss, collect_files(truss), tmp_path / "echo.tar.gz")
    sha = await api.upload(package.path.read_bytes())

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(unpack.shutil, "copyfileobj", disk_full)
        response = await api.client.post(
            "/v1/deployments", json={"blob": sha}, headers=auth(ADMIN_KEY)
        )
    assert response.status_code == 500, response.text
    assert "No space left" in response.json()["error"]
    assert api.plane.blobs.exists(sha)
    assert api.plane.store.query("SELECT sha256 FROM blob_owners") == [{"sha256": sha}]
    assert not list(api.plane.settings.deployments_dir.iterdir())
    again = await api.client.post("/v1/deployments", json={"blob": sha}, headers=auth(ADMIN_KEY))
    assert again.status_code == 201, again.text


async def test_an_invalid_truss_is_rejected_with_its_diagnostics(api: Api, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    (bad / "model").mkdir(parents=True)
    (bad / "config.yaml").write_text("model_name: bad\nresources:\n  accelerator: H101\n")
    (bad / "model" / "model.py").write_text("class Model: ...\n")
    response = await api.push(bad, ADMIN_KEY, tmp_path)
    assert response.status_code == 422
    assert "H101" in response.text
    assert not list(api.plane.settings.deployments_dir.iterdir())


async def test_uploads_are_checked_against_their_name_and_size(api: Api) -> None:
    wrong = await api.client.put("/v1/blobs/" + "a" * 64, content=b"data", headers=auth(ADMIN_KEY))
    assert wrong.status_code == 422
    big = b"x" * (2 << 20)
    sha = hashlib.sha256(big).hexdigest()
    too_big = await api.client.put(f"/v1/blobs/{sha}", content=big, headers=auth(ADMIN_KEY))
    assert too_big.status_code == 413
    not_hex = await api.client.put("/v1/blobs/..%2F..%2Fx", content=b"", headers=auth(ADMIN_KEY))
    assert not_hex.status_code in (400, 404)
    assert [p.name for p in api.plane.blobs.root.iterdir()] == []


async def test_blobs_are_not_shared_across_tenants(api: Api, tmp_path: Path) -> None:
    acme, globex = (
        create_key(api.plane.store, "acme").secret,
        create_key(api.plane.store, "globex").secret,
    )
    truss = FIXTURES / "control-echo"
    package = pack(truss, collect_files(truss), tmp_path / "echo.tar.gz")
    sha = await api.upload(package.path.read_bytes(), acme)
    assert (await api.client.head(f"/v1/blobs/{sha}", headers=auth(acme))).status_code == 200
    assert (await api.client.head(f"/v1/blobs/{sha}", headers=auth(globex))).status_code == 404
    stolen = await api.client.post("/v1/deployments", json={"blob": sha}, headers=auth(globex))
    assert stolen.status_code == 404
    # Uploading the same bytes proves possession: then it is globex's too.
    await api.upload(package.path.read_bytes(), globex)
    mine = await api.client.post("/v1/deployments", json={"blob": sha}, headers=auth(globex))
    assert mine.status_code == 201
