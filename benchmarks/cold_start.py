"""Cold start and control-plane overhead.

    .venv/bin/python benchmarks/cold_start.py [--trials 5] [--duration 5] [--repeats 3] [--no-llm]

Runs two real `trussd up` in temporary folders — one forking replicas from its zygote (the
default), one exec'ing `trussd serve` (`--no-zygote`) — whose replicas are real `trussd serve`.

Cold start (both planes, interleaved): with the deployment at zero replicas, one request;
the client measures the time to the first byte (echo truss, `POST /models/echo/predict`) or
to the first streamed token (the tiny-LLM engine truss, `/models/tiny-llm/v1/chat/completions`).
The control plane reports the phases of the replica start: `spawn` (fork/exec), `boot`
(interpreter, imports, server listening: until `GET /` answers), `load` (until
`GET /v1/models/model` is 200: the Model's load, or the engine's start and weight loading).
Each round also times, in fresh processes, a bare interpreter (`python -c pass`) and the
server's imports (`python -c "import trussd.cli.serve_cmd, trussd.server.serve"`): the part of
`boot` the zygote saves.

Warm overhead: a deployment kept at one replica (`min_replicas: 1`), loaded with `wrk` for
`--duration` seconds at concurrency 1 and 32, straight to the replica's loopback port and
through the control plane (`/models/echo-warm/predict`), interleaved, `--repeats` times.
Medians of the repeats are reported with the proxy-minus-direct p50 and the throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
KEY = "tdk_benchmark"
TRUSSD = [sys.executable, "-m", "trussd.cli.main"]
BODY = '{"text": "hello world", "n": 1}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Plane:
    def __init__(self, data: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TRUSSD_BOOTSTRAP_API_KEY": KEY,
            "TRUSSD_API_KEY": KEY,
            "TRUSSD_REMOTE": self.url,
            "HF_HUB_OFFLINE": "1",
        }
        self.log = (data.parent / f"up-{self.port}.log").open("wb")
        argv = [*TRUSSD, "up", "--port", str(self.port), "--data-dir", str(data), *extra]
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Api-Key {KEY}"}, timeout=600
        )
        self.wait(lambda: self._ok("/v1/whoami"), "control plane")

    def _ok(self, path: str) -> bool:
        try:
            return self.http.get(path).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def wait(predicate: Any, what: str, timeout: float = 600) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}")

    def push(self, truss: Path) -> str:
        result = subprocess.run(
            [*TRUSSD, "push", str(truss), "--wait"], env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"push failed:\n{result.stdout}\n{result.stderr}")
        match = re.search(r"deployment (d[0-9a-f]+)", result.stdout)
        assert match, result.stdout
        return match.group(1)

    def show(self, dep: str) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get(f"/v1/deployments/{dep}").json()
        return result

    def asleep(self, dep: str) -> bool:
        shown = self.show(dep)
        return shown["status"] == "SCALED_TO_ZERO" and not shown["replicas"]

    def close(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()


def copy_truss(src: Path, dst: Path, replace: dict[str, str]) -> Path:
    shutil.copytree(src, dst)
    config = (dst / "config.yaml").read_text()
    for old, new in replace.items():
        config = config.replace(old, new)
    (dst / "config.yaml").write_text(config)
    return dst


def timed_run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def first_byte(plane: Plane, path: str, body: dict[str, Any], token: bool) -> float:
    start = time.perf_counter()
    with plane.http.stream("POST", path, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines() if token else response.iter_raw():
            if not token or (line.startswith("data: ") and '"content"' in line):
                return time.perf_counter() - start
    raise RuntimeError("no content in the response")


Target = tuple[
    str, Plane, str, str, dict[str, Any], bool
]  # name, plane, deployment, path, body, token


def cold_trials(targets: list[Target], trials: int) -> dict[str, list[dict[str, float]]]:
    """Interleaved: each round wakes every target once, then times a bare interpreter and the
    server's imports in a fresh process (what the zygote saves)."""
    rows: dict[str, list[dict[str, float]]] = {t[0]: [] for t in targets}
    for _ in range(trials):
        for name, plane, dep, path, body, token in targets:
            plane.wait(lambda p=plane, d=dep: p.asleep(d), "scale to zero")
            ttfb = first_byte(plane, path, body, token)
            rows[name].append({"first": ttfb, **plane.show(dep)["last_cold_start"]})
        interp = timed_run([sys.executable, "-c", "pass"])
        imports = timed_run(
            [sys.executable, "-c", "import trussd.cli.serve_cmd, trussd.server.serve"]
        )
        for name in rows:
            rows[name][-1].update(interpreter=interp, imports=imports - interp)
    return rows


def wrk(url: str, concurrency: int, duration: float, headers: dict[str, str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        for name, value in headers.items():
            script.write(f'wrk.headers["{name}"] = "{value}"\n')
    threads = min(concurrency, 2)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "-s",
        script.name,
        url,
    ]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stdout}{result.stderr}")
    out = result.stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert rps, out
    assert not errors, out
    return {"p50": ms("50"), "p99": ms("99"), "rps": float(rps.group(1))}


def warm_overhead(
    plane: Plane, dep: str, duration: float, repeats: int
) -> dict[int, dict[str, Any]]:
    shown = plane.wait(
        lambda: [r for r in plane.show(dep)["replicas"] if r["state"] == "READY"], "ready"
    )
    direct = f"http://127.0.0.1:{shown[0]['port']}/predict"
    proxied = f"{plane.url}/models/echo-warm/predict"
    auth = {"Authorization": f"Api-Key {KEY}"}
    results: dict[int, dict[str, Any]] = {}
    for concurrency in (1, 32):
        wrk(direct, concurrency, 1, {})  # warm both paths' connections and caches
        wrk(proxied, concurrency, 1, auth)
        runs: dict[str, list[dict[str, float]]] = {"direct": [], "proxied": []}
        for _ in range(repeats):
            runs["direct"].append(wrk(direct, concurrency, duration, {}))
            runs["proxied"].append(wrk(proxied, concurrency, duration, auth))
        results[concurrency] = {
            path: {k: statistics.median(r[k] for r in rs) for k in ("p50", "p99", "rps")}
            for path, rs in runs.items()
        }
    return results


def median_row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def report(cold: dict[str, list[dict[str, float]]], warm: dict[int, dict[str, Any]]) -> str:
    lines = [
        "| truss | first byte/token | spawn | boot (interpreter + imports + listen) | "
        "load (+ engine start) | interpreter alone | server imports alone |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rows in cold.items():
        m = median_row(rows)
        lines.append(
            f"| {name} | {m['first']:.3f} s | {m['spawn'] * 1e3:.0f} ms | {m['boot']:.3f} s | "
            f"{m['load']:.3f} s | {m['interpreter']:.3f} s | {m['imports']:.3f} s |"
        )
    lines += [
        "",
        "| concurrency | direct p50 | via control plane p50 | overhead p50 | direct p99 | "
        "via p99 | direct req/s | via req/s | via/direct req/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for conc, r in warm.items():
        d, p = r["direct"], r["proxied"]
        lines.append(
            f"| {conc} | {d['p50']:.2f} ms | {p['p50']:.2f} ms | {p['p50'] - d['p50']:+.2f} ms | "
            f"{d['p99']:.2f} ms | {p['p99']:.2f} ms | {d['rps']:.0f} | {p['rps']:.0f} | "
            f"{p['rps'] / d['rps']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument("--out", type=Path, help="Write raw results as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trussd-bench-") as tmp:
        work = Path(tmp)
        zygote, execd = Plane(work / "zygote"), Plane(work / "exec", "--no-zygote")
        try:
            echo = copy_truss(FIXTURES / "control-echo", work / "echo", {})
            predict: tuple[str, dict[str, Any], bool] = ("/models/echo/predict", {"x": 1}, False)
            targets: list[Target] = [
                ("echo, forked from the zygote", zygote, zygote.push(echo), *predict),
                ("echo, exec'ed `trussd serve`", execd, execd.push(echo), *predict),
            ]
            cold = cold_trials(targets, args.trials)
            if not args.no_llm:
                sys.path.insert(0, str(ROOT / "scripts"))
                from tiny_llm import build_tiny_llm  # type: ignore[import-not-found]

                llm = copy_truss(FIXTURES / "control-tiny-llm", work / "llm", {})
                shutil.copytree(build_tiny_llm(ROOT / ".cache" / "tiny-llm"), llm / "weights")
                body = {
                    "model": "tiny-llm",
                    "stream": True,
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "hello"}],
                }
                chat = ("/models/tiny-llm/v1/chat/completions", body, True)
                llm_target: Target = (
                    "tiny-llm (CPU engine), zygote",
                    zygote,
                    zygote.push(llm),
                    *chat,
                )
                cold.update(cold_trials([llm_target], max(2, args.trials // 2)))
            warm_truss = copy_truss(
                FIXTURES / "control-echo",
                work / "warm",
                {
                    "model_name: echo": "model_name: echo-warm",
                    "min_replicas: 0": "min_replicas: 1",
                    "max_replicas: 2": "max_replicas: 1",
                },
            )
            warm = warm_overhead(zygote, zygote.push(warm_truss), args.duration, args.repeats)
        finally:
            zygote.close()
            execd.close()
    print(report(cold, warm))
    if args.out:
        args.out.write_text(json.dumps({"cold": cold, "warm": warm}, indent=2))


if __name__ == "__main__":
    main()
