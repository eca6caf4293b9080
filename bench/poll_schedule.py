"""Compare poll schedules: polls per run and how late a finished run is noticed.

Part 1 measures on the sandbox: for each schedule, runs of fixed durations (0.5 s to
10 s, 10 runs each) go through one AsyncAgentClient at once. Polls per run come from
the sandbox's counters, lateness is the client's wall time minus the run's duration.

Part 2 extends the comparison to runs of up to 30 minutes by arithmetic: each
schedule is played against the clock with its jitter off, the first poll at t=0,
until a poll lands at or after the run's end.

Both parts print ratios against the official SDK's schedule (0.5 s, x1.1, cap 60 s)
as the baseline, measured in the same run.

Usage: core/.venv/bin/python bench/poll_schedule.py
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

from aixplain_agents import AsyncAgentClient, PollSchedule
from aixplain_agents.sandbox import Sandbox

MEASURED_DURATIONS = (0.5, 2.0, 5.0, 10.0)
RUNS_PER_DURATION = 10
COMPUTED_DURATIONS = (0.5, 2.0, 10.0, 60.0, 300.0, 1800.0)
SCHEDULES = {
    "sdk-0.2.48 (baseline)": PollSchedule(first_delay=0.5, factor=1.1, max_delay=60),
    "ours (default)": PollSchedule(),
    "fixed 1 s": PollSchedule(first_delay=1, factor=1, max_delay=1, jitter=0),
}
HEADER = (
    f"{'schedule':24} {'run s':>7} {'polls':>6} {'late s':>7} "
    f"{'polls x':>8} {'late x':>7}"
)


def measure(schedule: PollSchedule) -> dict[float, tuple[float, float]]:
    """Return, per run duration, (mean polls per run, mean lateness in seconds)."""
    agents = {f"run-{d}": {"duration": d, "steps": 1} for d in MEASURED_DURATIONS}
    with Sandbox({"agents": agents}) as sandbox:

        async def one(agent_id: str, duration: float, client: AsyncAgentClient):
            started = time.monotonic()
            result = await client.run(agent_id, "hi", timeout=120)
            return duration, result.request_id, time.monotonic() - started - duration

        async def run_all() -> list[tuple[float, str, float]]:
            async with AsyncAgentClient(
                api_key=sandbox.api_key,
                base_url=sandbox.base_url,
                poll_schedule=schedule,
            ) as client:
                calls = [
                    one(f"run-{d}", d, client)
                    for d in MEASURED_DURATIONS
                    for _ in range(RUNS_PER_DURATION)
                ]
                return await asyncio.gather(*calls)

        finished = asyncio.run(run_all())
        requests = sandbox.stats()["requests"]

    summary: dict[float, tuple[float, float]] = {}
    for duration in MEASURED_DURATIONS:
        rows = [(rid, late) for d, rid, late in finished if d == duration]
        polls = statistics.mean(requests[rid]["polls"] for rid, _ in rows)
        summary[duration] = (polls, statistics.mean(late for _, late in rows))
    return summary


def play(schedule: PollSchedule, duration: float) -> tuple[int, float]:
    """Return (polls sent, seconds between the run's end and the poll that saw it)."""
    rng = random.Random(0)
    steady = PollSchedule(schedule.first_delay, schedule.factor, schedule.max_delay, 0)
    now, polls = 0.0, 0
    while True:
        polls += 1
        if now >= duration:
            return polls, now - duration
        now += steady.delay(polls - 1, rng)


def print_table(results: dict[str, dict[float, tuple[float, float]]]) -> None:
    baseline = next(iter(results.values()))
    print(HEADER)
    print("-" * len(HEADER))
    for name, by_duration in results.items():
        for duration, (polls, late) in by_duration.items():
            base_polls, base_late = baseline[duration]
            late_ratio = f"{late / base_late:7.2f}" if base_late > 0.01 else "      -"
            print(
                f"{name:24} {duration:7.1f} {polls:6.1f} {late:7.2f} "
                f"{polls / base_polls:8.2f} {late_ratio}"
            )


def main() -> None:
    print("== measured on the sandbox (mean of 10 runs per duration) ==")
    print_table({name: measure(schedule) for name, schedule in SCHEDULES.items()})
    print()
    print("== computed for longer runs (jitter off) ==")
    computed: dict[str, dict[float, tuple[float, float]]] = {}
    for name, schedule in SCHEDULES.items():
        plays = {d: play(schedule, d) for d in COMPUTED_DURATIONS}
        computed[name] = {d: (float(polls), late) for d, (polls, late) in plays.items()}
    print_table(computed)


if __name__ == "__main__":
    main()
