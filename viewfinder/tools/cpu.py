"""How many CPU cores other programs leave free: thread counts that survive a busy machine.

llama.cpp's worker threads meet at a barrier after every layer, so a thread that shares its
core with another program holds all of them up. Measured on this project's 2-core machines
(a 1016-token prompt to Qwen2.5-1.5B while other programs kept the load average near 7):
1 thread took 106-130 s, 2 threads 208 s. So a model call asks for as many threads as there
are cores that others leave free, never more than configured, never fewer than one.

The count comes from ``/proc/stat`` (all CPU time) minus ``/proc/self/stat`` (this process's
own), over the time since the previous sample: the load average would count this process's
own earlier model calls as "busy" and lags by a minute.
"""

from __future__ import annotations

import os
import time

# Shortest window a reading is taken over (the first reading waits this long).
MIN_WINDOW_SECONDS = 0.25


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _machine_busy_ticks() -> int | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    values = [int(v) for v in fields[:8]]
    return sum(values) - values[3] - values[4]


def _own_ticks() -> int | None:
    try:
        with open("/proc/self/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[11]) + int(rest[12])  # utime + stime, all threads


class FreeCores:
    """Samples how many cores other programs keep busy; one instance per model."""

    def __init__(self) -> None:
        self._last: tuple[float, int, int] | None = None
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _sample(self) -> tuple[float, int, int] | None:
        busy, own = _machine_busy_ticks(), _own_ticks()
        if busy is None or own is None:
            return None
        return time.monotonic(), busy, own

    def free(self) -> float | None:
        """Cores left free by other programs since the last call (None off Linux)."""
        now = self._sample()
        if now is None:
            return None
        if self._last is None or now[0] - self._last[0] < MIN_WINDOW_SECONDS:
            start = self._last or now
            time.sleep(max(0.0, MIN_WINDOW_SECONDS - (now[0] - start[0])))
            now = self._sample()
            if now is None:
                return None
            self._last = start
        seconds = max(1e-3, now[0] - self._last[0])
        others = max(0, (now[1] - self._last[1]) - (now[2] - self._last[2]))
        self._last = now
        return cpu_count() - others / self._ticks / seconds

    def threads(self, requested: int) -> int:
        """Threads to use now: ``requested`` at most, one per free core, at least one."""
        free = self.free()
        if free is None:
            return max(1, requested)
        return max(1, min(requested, int(free + 0.5)))
