"""Engine front overhead: the same engine process called directly and through ``trussd serve``.

    .venv/bin/python benchmarks/engine_overhead.py [--engines transformers,vllm]
        [--concurrency 1,8,16] [--rounds 4] [--max-tokens 64] [--ttft-requests 60]
        [--json OUT.json]
        [--profile OUT]   # trussd under cProfile (slower: for where-the-time-goes, not ratios)

For each engine, one ``trussd serve`` runs the tiny model (``scripts/tiny_llm.py``, built into
.cache/tiny-llm) with ``backend: <engine>``; the benchmark finds the engine process trussd
started (a descendant with ``--port``) and sends the same streamed chat requests to it
directly and to trussd, alternating which goes first, round after round, at each concurrency.
So "direct" and "trussd" share one engine, one model, one warm cache: the difference is the
front (proxy hop, model-name mapping, gate, metrics).

Reported per engine: output tokens/s at each concurrency (completion tokens from the stream's
usage / wall time of a round of ``max(8, 4c)`` requests; medians of rounds) with the
trussd/direct ratio as the median of the rounds' paired ratios (the two runs of a round are
back to back, so the ratio cancels the drift of a shared machine's load), and the CPU time the
trussd process spent per 1000 tokens it proxied (from /proc: what the front costs, whatever
the load). Then time to first token (request sent → first content chunk) of single requests
(``max_tokens: 4``), alternating direct and trussd request by request: p50/p99 and the median
of the paired differences.
vLLM needs ``make setup-vllm`` (.venvs/vllm); it is skipped with a note when absent. Nothing
is pinned: engine, trussd and this client share the cores, as they do in a pod.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from tiny_llm import build_tiny_llm  # noqa: E402

PUBLIC_NAME = "tiny-llm"
PROMPT = [{"role": "user", "content": "Write a long story about a robot who learns to paint."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    name: str  # direct | trussd
    url: str
    model: str


@dataclass
class Sample:
    tokens_per_s: float
    ttfts: list[float]
    tokens: int = 0
    #: CPU seconds the trussd process used during this round (user + system)
    trussd_cpu_s: float = 0.0


@dataclass
class Results:
    samples: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)

    def add(self, target: str, concurrency: int, sample: Sample) -> None:
        self.samples.setdefault((target, concurrency), []).append(sample)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out += children
            todo += children
    return out


def engine_port(trussd_pid: int) -> int:
    """The ``--port`` of the engine process trussd started."""
    for pid in _descendants(trussd_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if "--port" in argv:
            return int(argv[argv.index("--port") + 1])
    raise RuntimeError("no engine process with --port under trussd")


def write_truss(root: Path, engine: str, model_dir: Path) -> None:
    extra = "  dtype: float32\n  max_model_len: 2048\n" if engine == "vllm" else ""
    (root / "config.yaml").write_text(
        f"model_name: tiny\nresources: {{cpu: '2', memory: 8Gi}}\n"
        f"engine:\n  backend: {engine}\n  model: {model_dir}\n"
        f"  served_model_name: {PUBLIC_NAME}\n  startup_timeout_seconds: 600\n{extra}",
        encoding="utf-8",
    )


def start_trussd(
    root: Path, engine: str, profile: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if engine == "vllm":
        env["TRUSSD_VLLM_PYTHON"] = str(ROOT / ".venvs" / "vllm" / "bin" / "python")
    log = (root / "serve.log").open("wb")
    argv = [sys.executable, "-m", "trussd.cli.main", "serve", str(root), "--port", str(port)]
    argv.append("--no-access-log")
    if profile is not None:
        # cProfile writes the file when trussd exits (see ``stop``).
        argv[1:1] = ["-m", "cProfile", "-o", str(profile)]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"trussd exited: {(root / 'serve.log').read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/v1/models/model", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("trussd did not become ready")


def stop(proc: subprocess.Popen[bytes], profiled: bool = False) -> None:
    # uvicorn re-raises the signal after its graceful shutdown: SIGINT becomes a
    # KeyboardInterrupt, after which cProfile still writes its file; SIGTERM would not.
    proc.send_signal(signal.SIGINT if profiled else signal.SIGTERM)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def one_request(
    client: httpx.AsyncClient, target: Target, max_tokens: int, extra: dict[str, Any]
) -> tuple[int, float]:
    """Stream one chat completion; (completion tokens, seconds to the first content chunk)."""
    body = {
        "model": target.model,
        "messages": PROMPT,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra,
    }
    start = time.perf_counter()
    ttft, tokens, pieces = -1.0, 0, 0
    async with client.stream("POST", f"{target.url}/v1/chat/completions", json=body) as reply:
        if reply.status_code != 200:
            raise RuntimeError(f"{target.name}: {reply.status_code} {await reply.aread()!r}")
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                tokens = int(event["usage"].get("completion_tokens") or 0)
            for choice in event.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    pieces += 1
                    if ttft < 0:
                        ttft = time.perf_counter() - start
    return tokens or pieces, ttft


async def round_of(
    client: httpx.AsyncClient,
    target: Target,
    concurrency: int,
    requests: int,
    max_tokens: int,
    extra: dict[str, Any],
) -> Sample:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    tokens, ttfts = 0, []

    async def worker() -> None:
        nonlocal tokens
        while not queue.empty():
            queue.get_nowait()
            n, ttft = await one_request(client, target, max_tokens, extra)
            tokens += n
            ttfts.append(ttft)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Sample(tokens / (time.perf_counter() - start), ttfts, tokens)


async def throughput(
    client: httpx.AsyncClient,
    targets: list[Target],
    args: argparse.Namespace,
    extra: dict[str, Any],
    trussd_pid: int,
) -> Results:
    """Rounds of ``max(8, 4c)`` requests at concurrency c, both targets back to back."""
    results = Results()
    for target in targets:  # warm both paths (connections, engine caches)
        await round_of(client, target, 4, 8, args.max_tokens, extra)
    for concurrency in args.concurrency:
        requests = max(8, 4 * concurrency)
        for r in range(args.rounds):
            for target in targets if r % 2 == 0 else targets[::-1]:
                cpu = cpu_seconds(trussd_pid)
                sample = await round_of(
                    client, target, concurrency, requests, args.max_tokens, extra
                )
                sample.trussd_cpu_s = cpu_seconds(trussd_pid) - cpu
                results.add(target.name, concurrency, sample)
    return results


async def first_tokens(
    client: httpx.AsyncClient, targets: list[Target], count: int, extra: dict[str, Any]
) -> dict[str, list[float]]:
    """TTFT of ``count`` single requests per target, alternating request by request."""
    ttfts: dict[str, list[float]] = {t.name: [] for t in targets}
    for i in range(count):
        for target in targets if i % 2 == 0 else targets[::-1]:
            ttfts[target.name].append((await one_request(client, target, 4, extra))[1])
    return ttfts


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def throughput_rows(engine: str, results: Results, levels: list[int]) -> list[dict[str, Any]]:
    rows = []
    for c in levels:
        direct, front = results.samples[("direct", c)], results.samples[("trussd", c)]
        # Round r of both targets ran back to back: their ratio cancels the machine's drift.
        ratios = [t.tokens_per_s / d.tokens_per_s for d, t in zip(direct, front, strict=True)]
        tokens = sum(s.tokens for s in front)
        rows.append({
            "engine": engine, "concurrency": c, "rounds": len(direct),
            "direct_tok_s": statistics.median(s.tokens_per_s for s in direct),
            "trussd_tok_s": statistics.median(s.tokens_per_s for s in front),
            "ratio": statistics.median(ratios),
            "trussd_cpu_ms_per_1k_tokens": 1e6 * sum(s.trussd_cpu_s for s in front) / tokens,
        })  # fmt: skip
    return rows


def ttft_row(engine: str, ttfts: dict[str, list[float]]) -> dict[str, Any]:
    direct, front = ttfts["direct"], ttfts["trussd"]
    deltas = [t - d for d, t in zip(direct, front, strict=True)]
    return {
        "engine": engine, "requests": len(direct),
        "direct_p50_ms": 1000 * pct(direct, 0.5), "trussd_p50_ms": 1000 * pct(front, 0.5),
        "direct_p99_ms": 1000 * pct(direct, 0.99), "trussd_p99_ms": 1000 * pct(front, 0.99),
        "paired_delta_median_ms": 1000 * statistics.median(deltas),
    }  # fmt: skip


def tables(rows: list[dict[str, Any]], ttft: list[dict[str, Any]]) -> str:
    out = [
        "| engine | concurrency | direct tok/s | trussd tok/s | trussd / direct (paired median) "
        "| trussd CPU ms per 1k tokens |",
        "| --- | --: | --: | --: | --: | --: |",
    ]
    out += [
        f"| {r['engine']} | {r['concurrency']} | {r['direct_tok_s']:.0f} "
        f"| {r['trussd_tok_s']:.0f} | {r['ratio']:.3f} | {r['trussd_cpu_ms_per_1k_tokens']:.0f} |"
        for r in rows
    ]
    out += [
        "",
        "| engine | requests | TTFT p50 direct → trussd (ms) | TTFT p99 direct → trussd (ms) "
        "| Δ TTFT, paired median (ms) |",
        "| --- | --: | --: | --: | --: |",
    ]
    out += [
        f"| {t['engine']} | {t['requests']} | {t['direct_p50_ms']:.1f} → {t['trussd_p50_ms']:.1f} "
        f"| {t['direct_p99_ms']:.1f} → {t['trussd_p99_ms']:.1f} "
        f"| {t['paired_delta_median_ms']:+.2f} |"
        for t in ttft
    ]
    return "\n".join(out) + "\n"


async def measure(
    targets: list[Target], args: argparse.Namespace, extra: dict[str, Any], trussd_pid: int
) -> tuple[Results, dict[str, list[float]]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        results = await throughput(client, targets, args, extra, trussd_pid)
        ttfts = await first_tokens(client, targets, args.ttft_requests, extra)
    return results, ttfts


def run_engine(
    engine: str, model_dir: Path, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix=f"trussd-bench-{engine}-") as tmp:
        root = Path(tmp)
        write_truss(root, engine, model_dir)
        profile = args.profile.with_suffix(f".{engine}.prof") if args.profile else None
        proc, url = start_trussd(root, engine, profile)
        try:
            direct_url = f"http://127.0.0.1:{engine_port(proc.pid)}"
            engine_model = httpx.get(f"{direct_url}/v1/models", timeout=30).json()["data"][0]["id"]
            targets = [
                Target("direct", direct_url, engine_model),
                Target("trussd", url, PUBLIC_NAME),
            ]
            # vLLM honours ignore_eos (every request runs to max_tokens); transformers rejects it.
            extra = {"ignore_eos": True} if engine == "vllm" else {}
            results, ttfts = asyncio.run(measure(targets, args, extra, proc.pid))
        finally:
            stop(proc, profiled=profile is not None)
    return throughput_rows(engine, results, args.concurrency), ttft_row(engine, ttfts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="transformers,vllm")
    parser.add_argument(
        "--concurrency", default="1,8,16", type=lambda s: [int(x) for x in s.split(",")]
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--ttft-requests", type=int, default=60, help="per target")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--profile", type=Path, default=None, help="run trussd under cProfile: PATH.<engine>.prof"
    )
    args = parser.parse_args()
    model_dir = build_tiny_llm(ROOT / ".cache" / "tiny-llm")
    rows: list[dict[str, Any]] = []
    ttft: list[dict[str, Any]] = []
    for engine in args.engines.split(","):
        if engine == "vllm" and not (ROOT / ".venvs" / "vllm" / "bin" / "python").exists():
            print("vllm: skipped (.venvs/vllm is absent: run `make setup-vllm`)", file=sys.stderr)
            continue
        print(f"{engine}: starting trussd serve …", file=sys.stderr)
        engine_rows, engine_ttft = run_engine(engine, model_dir, args)
        rows += engine_rows
        ttft.append(engine_ttft)
    print(tables(rows, ttft))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min): {load}; {os.cpu_count()} CPUs")
    if args.json:
        report = {"throughput": rows, "ttft": ttft, "loadavg": os.getloadavg()}
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
