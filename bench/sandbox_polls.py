"""Measure how many polls per second the sandbox serves, and its memory per run.

Run from the repository root:

    core/.venv/bin/python bench/sandbox_polls.py [--runs 1000] [--polls 20000]

Part 1 starts the sandbox in a child process (as `aixplain-agents sandbox` would),
creates `--runs` runs that stay in progress for an hour, then polls them
round-robin from `--clients` processes, each with one httpx.AsyncClient keeping
`--concurrency` connections to 127.0.0.1. It reports polls per second, latency
percentiles and the server's CPU time per poll (from /proc, so Linux only). The
httpx client costs more CPU per request than the server, so the CPU time per poll
is the better measure of the server's capacity.

Part 2 starts the sandbox in this process, creates `--memory-runs` in-progress
runs and reports the traced Python memory (tracemalloc) and the RSS growth per
run. The request log is filled first, so its bounded size does not count.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from typing import Any

import httpx

from aixplain_agents.sandbox import Sandbox

SCENARIO: dict[str, Any] = {
    "agents": {
        "bench": {
            "duration": 3600.0,
            "steps": 3,
            "output": {"kind": "template", "template": "{query}"},
        }
    }
}
HEADERS = {"x-api-key": "bench-key"}
# The official SDK polls each run every 0.5 s at first (aixplain 0.2.48).
SDK_POLL_INTERVAL = 0.5

SERVER_SCRIPT = textwrap.dedent(
    """
    import sys
    from aixplain_agents.sandbox import serve

    path = sys.argv[1]
    serve("127.0.0.1", 0, path, lambda url: print(url, flush=True))
    """
)


async def _create_runs(client: httpx.AsyncClient, count: int, batch: int) -> list[str]:
    urls: list[str] = []
    for start in range(0, count, batch):
        size = min(batch, count - start)
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v2/agents/bench/run",
                    json={"query": {"input": f"incident {start + i}"}},
                )
                for i in range(size)
            )
        )
        for response in responses:
            response.raise_for_status()
            urls.append(response.json()["data"])
    return urls


async def _poll_round_robin(
    client: httpx.AsyncClient, urls: list[str], total: int, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    per_worker = total // concurrency

    async def worker(offset: int) -> None:
        for i in range(per_worker):
            url = urls[(offset + i * concurrency) % len(urls)]
            started = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json()["completed"]:
                raise RuntimeError(f"unexpected poll response: {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in range(concurrency)))
    return time.perf_counter() - started, latencies


def _poll_worker(base_url: str, urls: list[str], polls: int, concurrency: int) -> Any:
    """Poll `urls` round-robin in a client process and return (elapsed, latencies)."""

    async def run() -> tuple[float, list[float]]:
        limits = httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency
        )
        async with httpx.AsyncClient(
            base_url=base_url, headers=HEADERS, limits=limits, timeout=30
        ) as client:
            await _poll_round_robin(client, urls, min(polls, 500), concurrency)
            return await _poll_round_robin(client, urls, polls, concurrency)

    return asyncio.run(run())


async def _create_in_flight(base_url: str, runs: int) -> list[str]:
    async with httpx.AsyncClient(
        base_url=base_url, headers=HEADERS, timeout=30
    ) as client:
        return await _create_runs(client, runs, batch=20)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_polls(base_url: str, server_pid: int, args: argparse.Namespace) -> None:
    urls = asyncio.run(_create_in_flight(base_url, args.runs))
    per_client = args.polls // args.clients
    cpu_before = _cpu_seconds(server_pid)
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.clients) as pool:
        results = pool.starmap(
            _poll_worker,
            [
                (base_url, urls[i:] + urls[:i], per_client, args.concurrency)
                for i in range(args.clients)
            ],
        )
    wall = time.perf_counter() - started
    server_cpu = _cpu_seconds(server_pid) - cpu_before

    latencies = [value for _, worker_latencies in results for value in worker_latencies]
    # Each client timed its own polling window, and the windows overlap.
    rate = sum(len(lat) / elapsed for elapsed, lat in results)
    quantiles = statistics.quantiles(latencies, n=100)
    demand = args.runs / SDK_POLL_INTERVAL
    # Server CPU covers warm-up polls too: 500 per client before the timed ones.
    served = len(latencies) + args.clients * min(per_client, 500)
    cpu_per_poll = server_cpu / served
    print(f"in-flight runs:          {args.runs}")
    print(f"client processes x tasks: {args.clients} x {args.concurrency}")
    print(
        f"polls timed:             {len(latencies)} ({wall:.1f} s with process start)"
    )
    print(f"polls per second:        {rate:,.0f}")
    print(
        f"latency p50 / p99:       {quantiles[49] * 1000:.2f} / "
        f"{quantiles[98] * 1000:.2f} ms"
    )
    print(
        f"server CPU per poll:     {cpu_per_poll * 1000:.3f} ms "
        f"(one core serves about {1 / cpu_per_poll:,.0f} polls/s)"
    )
    print(
        f"ratio to SDK demand:     {rate / demand:.2f}x measured, "
        f"{1 / cpu_per_poll / demand:.2f}x per server core "
        f"({args.runs} runs polled every {SDK_POLL_INTERVAL} s = {demand:,.0f} polls/s)"
    )


def run_poll_benchmark(args: argparse.Namespace, scenario_path: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, scenario_path],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if not base_url.startswith("http://"):
            raise RuntimeError("the sandbox child process did not start")
        measure_polls(base_url, process.pid, args)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _fill(base_url: str, runs: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=HEADERS, limits=limits, timeout=30
    ) as client:
        for _ in range(1000 // concurrency + 1):
            await asyncio.gather(
                *(client.get("/v2/agents/bench") for _ in range(concurrency))
            )
        await _create_runs(client, runs, batch=concurrency)


def run_memory_benchmark(runs: int, concurrency: int) -> None:
    with Sandbox(SCENARIO) as sandbox:
        # Warm up code paths and fill the bounded request log before measuring.
        asyncio.run(_fill(sandbox.base_url, 100, concurrency))
        sandbox.reset()
        asyncio.run(_fill(sandbox.base_url, 0, concurrency))
        gc.collect()
        rss_before = _rss_bytes()
        tracemalloc.start()
        traced_before, _ = tracemalloc.get_traced_memory()

        asyncio.run(_fill(sandbox.base_url, runs, concurrency))
        gc.collect()
        traced_after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = _rss_bytes()
        in_flight = len(sandbox.stats()["requests"])

    print(f"in-flight runs:          {in_flight}")
    print(
        f"traced memory per run:   {(traced_after - traced_before) / runs:,.0f} bytes"
    )
    print(f"RSS growth per run:      {(rss_after - rss_before) / runs:,.0f} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="in-flight runs to poll")
    parser.add_argument("--polls", type=int, default=20_000, help="polls to time")
    parser.add_argument(
        "--clients", type=int, default=2, help="client processes for the poll part"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="connections per client process"
    )
    parser.add_argument(
        "--memory-runs", type=int, default=10_000, help="runs for the memory part"
    )
    args = parser.parse_args()

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(SCENARIO, handle)
    try:
        print("== polls per second ==")
        run_poll_benchmark(args, handle.name)
        print("== memory per in-flight run ==")
        run_memory_benchmark(args.memory_runs, args.concurrency)
    finally:
        os.unlink(handle.name)


if __name__ == "__main__":
    main()
