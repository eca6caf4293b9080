"""Compare poll schedules: polls per run and how late a finished run is noticed.

For runs of several durations, each schedule is played against the clock with its
jitter off: the first poll at t=0, then the schedule's waits, until a poll lands at or
after the run's end. Prints, per schedule and duration, the polls sent and the delay
between the run's end and the poll that sees it, with ratios against the official
SDK's schedule (0.5 s, x1.1, cap 60 s) as the baseline in the same run.

Usage: core/.venv/bin/python bench/poll_schedule.py
"""

from __future__ import annotations

import random

from aixplain_agents import PollSchedule

DURATIONS = (0.5, 2.0, 10.0, 60.0, 300.0, 1800.0)
SCHEDULES = {
    "sdk-0.2.48 (baseline)": PollSchedule(
        first_delay=0.5, factor=1.1, max_delay=60, jitter=0
    ),
    "ours (default)": PollSchedule(jitter=0),
    "fixed 1 s": PollSchedule(first_delay=1, factor=1, max_delay=1, jitter=0),
}


def play(schedule: PollSchedule, duration: float) -> tuple[int, float]:
    """Return (polls sent, seconds between the run's end and the poll that saw it)."""
    rng = random.Random(0)
    now, polls = 0.0, 0
    while True:
        polls += 1
        if now >= duration:
            return polls, now - duration
        now += schedule.delay(polls - 1, rng)


def main() -> None:
    baseline_name = next(iter(SCHEDULES))
    baseline = {d: play(SCHEDULES[baseline_name], d) for d in DURATIONS}
    header = (
        f"{'schedule':24} {'run s':>7} {'polls':>6} {'late s':>7} "
        f"{'polls x':>8} {'late x':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, schedule in SCHEDULES.items():
        for duration in DURATIONS:
            polls, late = play(schedule, duration)
            base_polls, base_late = baseline[duration]
            late_ratio = f"{late / base_late:7.2f}" if base_late > 0 else "      -"
            print(
                f"{name:24} {duration:7.1f} {polls:6d} {late:7.2f} "
                f"{polls / base_polls:8.2f} {late_ratio}"
            )


if __name__ == "__main__":
    main()
