"""The local runtime with real replica processes (the stand-in server): activator, scale to
zero, crashes, failures, secrets, promotion, deletion, metering."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADMIN_KEY, FIXTURES, Harness, auth

pytestmark = pytest.mark.e2e

WAIT = 60.0  # generous: CI machines are shared


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def show(h: Harness, dep: str, key: str = ADMIN_KEY) -> dict[str, Any]:
    response = h.client.get(f"/v1/deployments/{dep}", headers=auth(key))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def asleep(h: Harness, dep: str) -> bool:
    d = show(h, dep)
    return d["status"] == "SCALED_TO_ZERO" and not d["replicas"]


def predict(h: Harness, body: Any, path: str = "/models/echo/predict", key: str = ADMIN_KEY) -> Any:
    return h.client.post(path, json=body, headers=auth(key))


def test_burst_at_zero_waits_for_one_cold_start_and_drops_nothing(make_harness: Any) -> None:
    h = make_harness()
    dep = h.push(FIXTURES / "control-echo")["id"]
    wait_for(lambda: asleep(h, dep), "scale to zero after the rollout")
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda i: predict(h, {"i": i}), range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    assert sorted(r.json()["echo"]["i"] for r in responses) == list(range(16))
    metrics = h.client.get("/metrics", headers=auth(ADMIN_KEY)).text
    count = next(
        line for line in metrics.splitlines() if line.startswith("trussd_cold_start_seconds_count")
    )
    assert float(count.rsplit(" ", 1)[1]) >= 2  # the rollout's and the wake-up's
    # and back to sleep, then a single request wakes it again
    wait_for(lambda: asleep(h, dep), "scale to zero after the burst")
    assert predict(h, {"again": True}).json()["echo"] == {"again": True}


def test_crashed_replica_gives_a_clean_error_and_is_replaced(make_harness: Any) -> None:
    h = make_harness()
    dep = h.push(FIXTURES / "control-echo")["id"]
    first = predict(h, {"x": 1})
    assert first.status_code == 200
    crashed = predict(h, {"crash": True})
    assert crashed.status_code == 502
    assert "failed while serving" in crashed.json()["error"]
    after = predict(h, {"x": 2})
    assert after.status_code == 200
    assert after.json()["pid"] != first.json()["pid"]
    logs = h.client.get(f"/v1/deployments/{dep}/logs", headers=auth(ADMIN_KEY)).text
    assert "crashed (exit code 3)" in logs
    metrics = h.client.get("/metrics", headers=auth(ADMIN_KEY)).text
    crashes = [
        line for line in metrics.splitlines() if line.startswith("trussd_replica_crashes_total")
    ]
    assert [line.rsplit(" ", 1)[1] for line in crashes] == ["1.0"]  # the request was not re-sent


def test_a_model_that_cannot_load_fails_its_deployment(make_harness: Any) -> None:
    h = make_harness()
    dep = h.push(FIXTURES / "control-broken")["id"]
    wait_for(lambda: show(h, dep)["status"] == "FAILED", "FAILED")
    assert "times in a row" in show(h, dep)["error"]
    logs = h.client.get(f"/v1/deployments/{dep}/logs", headers=auth(ADMIN_KEY)).text
    assert "weights are missing" in logs
    response = predict(h, {}, path="/models/broken/predict")
    assert response.status_code == 503
    assert "failed" in response.json()["error"]


def test_queue_is_bounded_while_a_replica_starts(
    make_harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness()
    dep = h.push(FIXTURES / "control-queue")["id"]
    wait_for(lambda: asleep(h, dep), "scale to zero")
    monkeypatch.setenv("STANDIN_LOAD_SECONDS", "3")  # the next replica loads slowly
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(predict, h, {"first": True}, "/models/queued/predict")
        wait_for(lambda: show(h, dep)["waiting_requests"] == 1, "one waiting request")
        refused = predict(h, {"second": True}, path="/models/queued/predict")
        assert refused.status_code == 429
        assert refused.headers["retry-after"]
        assert waiting.result(timeout=WAIT).status_code == 200


def test_replicas_get_only_their_tenants_secrets_and_own_folder(make_harness: Any) -> None:
    h = make_harness()
    acme = h.key("acme")
    h.client.put(
        "/v1/secrets/greeting", json={"value": "hello from default"}, headers=auth(ADMIN_KEY)
    )
    h.client.put("/v1/secrets/greeting", json={"value": "hello from acme"}, headers=auth(acme))
    h.client.put("/v1/secrets/unrelated", json={"value": "nope"}, headers=auth(acme))
    h.push(FIXTURES / "control-echo", key=acme)
    os.environ["TRUSS_SECRET_GREETING"] = "leak"  # the control plane's own env must not leak
    try:
        body = predict(h, {}, key=acme).json()
    finally:
        del os.environ["TRUSS_SECRET_GREETING"]
    assert body["greeting"] == "hello from acme"
    assert body["env"] == ["TRUSSD_REPLICA_ID", "TRUSSD_SECRET_greeting"]
    assert body["cwd"].startswith(str(h.plane.settings.replicas_dir))


def test_versions_promotion_and_deployment_routes(make_harness: Any) -> None:
    h = make_harness()
    v1 = h.push(FIXTURES / "control-echo")
    v2 = h.push(FIXTURES / "control-echo")
    assert (v1["version"], v1["is_production"], v2["version"], v2["is_production"]) == (
        1,
        True,
        2,
        False,
    )
    direct = predict(h, {"v": 2}, path=f"/models/echo/deployments/{v2['id']}/predict")
    assert direct.status_code == 200
    promoted = h.client.post(f"/v1/deployments/{v2['id']}/promote", headers=auth(ADMIN_KEY)).json()
    assert promoted["is_production"]
    assert predict(h, {}).json()["pid"] == direct.json()["pid"]  # production is v2 now
    wrong_model = predict(h, {}, path=f"/models/other/deployments/{v2['id']}/predict")
    assert wrong_model.status_code == 404


def test_delete_stops_replicas_and_keeps_usage(make_harness: Any) -> None:
    h = make_harness()
    dep = h.push(FIXTURES / "control-echo")["id"]
    pid = predict(h, {}).json()["pid"]
    deleted = h.client.delete(f"/v1/deployments/{dep}", headers=auth(ADMIN_KEY))
    assert deleted.status_code == 200
    assert not _alive(pid)
    assert predict(h, {}).status_code == 404
    usage = h.client.get("/v1/usage", headers=auth(ADMIN_KEY)).json()["usage"]
    assert usage[0]["deployment"] == dep
    assert usage[0]["minutes"] >= 1


def test_openai_routes_stream_through(make_harness: Any) -> None:
    h = make_harness()
    h.push(FIXTURES / "control-echo")
    body = {
        "model": "echo",
        "stream": True,
        "messages": [{"role": "user", "content": "one two three"}],
    }
    with h.client.stream(
        "POST",
        "/models/echo/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert len(events) == 4
    missing = h.client.post("/models/nope/v1/chat/completions", json=body, headers=auth(ADMIN_KEY))
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_reconcile_kills_a_leftover_replica_and_bills_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a restarted control plane finds: a replica row never closed, its process alive."""
    import subprocess
    import sys

    from trussd.control.controlplane import ControlPlane
    from trussd.control.settings import ControlSettings

    settings = ControlSettings(data_dir=tmp_path / "data")
    plane = ControlPlane(settings)
    now = time.time()
    plane.store.execute(
        "INSERT INTO deployments (id, tenant, model, version, blob, truss_dir, kind, instance_type,"
        " settings, status, created_at) VALUES ('d1', 'default', 'm', 1, 'b', '/x', 'custom', 'T4',"
        " '{}', 'ACTIVE', ?)",
        (now,),
    )
    leftover = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, "TRUSSD_REPLICA_ID": "r-left"},
        start_new_session=True,
    )
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        plane.store.execute(
            "INSERT INTO replicas (id, deployment, pid, status, requested_at, last_seen_at)"
            " VALUES ('r-left', 'd1', ?, 'READY', ?, ?), ('r-gone', 'd1', ?, 'READY', ?, ?)",
            (leftover.pid, now - 150, now - 10, stranger.pid, now - 300, now - 200),
        )
        assert plane.runtime.reconcile_orphans() == 2
        assert leftover.wait(timeout=10) == -9
        assert stranger.poll() is None  # a pid reused by another process is left alone
        rows = plane.store.query("SELECT id, status, stopped_at FROM replicas ORDER BY id")
        assert [(r["id"], r["status"]) for r in rows] == [
            ("r-gone", "STOPPED"),
            ("r-left", "STOPPED"),
        ]
        minutes = {
            r["replica"]: r["n"]
            for r in plane.store.query("SELECT replica, COUNT(*) AS n FROM ledger GROUP BY replica")
        }
        assert minutes["r-left"] >= 3  # billed up to the kill
        assert 2 <= minutes["r-gone"] <= 3  # billed up to when it was last seen
        assert plane.runtime.reconcile_orphans() == 0  # idempotent
    finally:
        stranger.kill()
        stranger.wait()
        leftover.kill()
        leftover.wait()
        plane.store.close()
