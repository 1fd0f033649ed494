"""End to end, as a user runs it: `trussd up` → `trussd push` → invoke with httpx and the
`openai` client → idle to zero replicas → a request wakes one → `trussd usage` shows minutes.
Replicas are the real `trussd serve`."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from .conftest import FIXTURES
from .live import REPO, TRUSSD, LiveControlPlane, replica_pids

pytestmark = pytest.mark.e2e
KEY = "tdk_e2e_admin"
WAIT = 120.0


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[LiveControlPlane]:
    live = LiveControlPlane(tmp_path / "data", KEY).start()
    yield live
    live.stop()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def listed(plane: LiveControlPlane) -> dict[str, dict[str, Any]]:
    items = json.loads(plane.cli("deployments", "list", "--json").stdout)
    return {item["model"]: item for item in items}


def test_push_invoke_sleep_wake_and_bill_a_custom_truss(
    plane: LiveControlPlane, request: pytest.FixtureRequest
) -> None:
    pushed = plane.cli("push", str(FIXTURES / "control-echo"), "--wait")
    assert "model/model.py" in pushed.stdout
    assert "ready in" in pushed.stdout  # a 1 s scale-down delay may already have put it to sleep
    http = httpx.Client(base_url=plane.url, headers=plane.headers, timeout=WAIT)
    request.addfinalizer(http.close)
    answer = http.post("/models/echo/predict", json={"hello": "world"})
    assert answer.status_code == 200
    assert answer.json()["echo"] == {"hello": "world"}

    client = OpenAI(base_url=f"{plane.url}/models/echo/v1", api_key=KEY, max_retries=0)
    request.addfinalizer(client.close)
    chat = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "a b c"}]
    )
    assert chat.choices[0].message.content == "a b c"
    stream = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "x y"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream).split() == ["x", "y"]

    crashed = http.post("/models/echo/predict", json={"crash": True})
    assert crashed.status_code == 502  # the replica died with the request: a clean error
    assert "retry" in crashed.json()["hint"]
    assert http.post("/models/echo/predict", json={"after": "crash"}).status_code == 200

    wait_for(
        lambda: (
            listed(plane)["echo"]["ready_replicas"] == 0
            and listed(plane)["echo"]["status"] == "SCALED_TO_ZERO"
        ),
        "scale to zero",
    )
    assert answer.json()["pid"] not in replica_pids()
    woke = http.post("/models/echo/predict", json={"after": "sleep"})
    assert woke.status_code == 200
    assert woke.json()["pid"] != answer.json()["pid"]

    usage = json.loads(plane.cli("usage", "--format", "json").stdout)
    assert usage[0]["model"] == "echo"
    assert usage[0]["minutes"] >= 2
    assert usage[0]["cost_micros"] == usage[0]["minutes"] * 1000
    csv = plane.cli("usage", "--format", "csv", "--since", "1h").stdout.splitlines()
    assert csv[0].startswith("tenant,model,deployment")
    assert len(csv) == 2
    events = plane.cli("usage", "--format", "cloudevents").stdout.splitlines()
    assert len(events) >= usage[0]["minutes"]  # the woken replica may have begun another minute
    metrics = http.get("/metrics").text
    assert "trussd_billable_replica_minutes_total{deployment=" in metrics
    logs = plane.cli("logs", usage[0]["deployment"]).stdout
    assert "ready in" in logs
    assert "trussd serving echo" in logs


@pytest.mark.engine
@pytest.mark.slow
def test_push_and_invoke_an_engine_truss(
    plane: LiveControlPlane, tiny_llm_dir: Path, tmp_path: Path
) -> None:
    truss = tmp_path / "tiny-llm"
    shutil.copytree(FIXTURES / "control-tiny-llm", truss)
    shutil.copytree(tiny_llm_dir, truss / "weights")
    plane.cli("push", str(truss), "--wait")
    client = OpenAI(
        base_url=f"{plane.url}/models/tiny-llm/v1", api_key=KEY, max_retries=0, timeout=WAIT
    )
    assert [m.id for m in client.models.list().data] == ["tiny-llm"]
    chunks = list(
        client.chat.completions.create(
            model="tiny-llm",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=8,
            stream=True,
        )
    )
    assert chunks
    assert chunks[-1].choices[0].finish_reason in ("length", "stop")
    wait_for(lambda: listed(plane)["tiny-llm"]["status"] == "SCALED_TO_ZERO", "scale to zero")
    woke = client.completions.create(model="tiny-llm", prompt="hello", max_tokens=4)
    assert woke.usage is not None
    assert woke.usage.completion_tokens >= 1
    usage = {row["model"]: row for row in json.loads(plane.cli("usage", "--format", "json").stdout)}
    assert usage["tiny-llm"]["minutes"] >= 2


def test_a_killed_control_plane_leaves_no_orphans_and_reconciles(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = LiveControlPlane(data, KEY).start()
    try:
        first.cli("push", str(FIXTURES / "control-echo"), "--wait")
        with httpx.Client(base_url=first.url, headers=first.headers, timeout=WAIT) as http:
            pid = http.post("/models/echo/predict", json={}).json()["pid"]
        assert pid in replica_pids()
    finally:
        first.stop(signal.SIGKILL)
    wait_for(lambda: pid not in replica_pids(), "the orphaned replica to die", timeout=30)
    second = LiveControlPlane(data, KEY).start()
    try:
        shown = listed(second)["echo"]
        assert shown["status"] == "SCALED_TO_ZERO"  # not ACTIVE with nothing behind it
        assert shown["ready_replicas"] == 0
        assert shown["replicas"] == []
        answer = httpx.post(
            f"{second.url}/models/echo/predict",
            json={"back": 1},
            headers=second.headers,
            timeout=WAIT,
        )
        assert answer.status_code == 200
        deployment = shown["id"]
        logs = second.cli("logs", deployment).stdout
        killed = re.search(rf"replica (r[0-9a-f]+) starting \(pid {pid},", logs)
        assert killed, logs
        events = second.cli("usage", "--format", "cloudevents").stdout.splitlines()
        billed = {json.loads(e)["data"]["replica"] for e in events}
        assert killed.group(1) in billed  # the killed replica was billed on reconcile
    finally:
        second.stop()
    assert replica_pids() == [] or pid not in replica_pids()


def test_push_wait_reports_a_failed_deployment(plane: LiveControlPlane) -> None:
    result = plane.cli("push", str(FIXTURES / "control-broken"), "--wait", check=False)
    assert result.returncode == 1
    assert "weights are missing (on purpose)" in result.stdout  # the replica's own log line
    assert "deployment failed" in result.stderr
    shown = listed(plane)["broken"]
    assert shown["status"] == "FAILED"
    assert shown["ready_replicas"] == 0


def test_keys_and_secrets_commands(plane: LiveControlPlane) -> None:
    created = json.loads(plane.cli("keys", "create", "--tenant", "acme", "--json").stdout)
    assert created["tenant"] == "acme"
    assert created["key"].startswith("tdk_")
    who = httpx.get(f"{plane.url}/v1/whoami", headers={"Authorization": f"Bearer {created['key']}"})
    assert who.json()["tenant"] == "acme"
    assert created["id"] in plane.cli("keys", "list").stdout
    env = {**plane.env, "TRUSSD_API_KEY": created["key"]}
    subprocess.run(
        [*TRUSSD, "secrets", "set", "greeting"],
        input="hello\n",
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    listed_secrets = subprocess.run(
        [*TRUSSD, "secrets", "list"], env=env, cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    assert listed_secrets.split() == ["greeting"]
    plane.cli("keys", "revoke", created["id"])
    assert (
        httpx.get(
            f"{plane.url}/v1/whoami", headers={"Authorization": f"Bearer {created['key']}"}
        ).status_code
        == 401
    )
