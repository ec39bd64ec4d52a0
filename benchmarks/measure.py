"""Run a command and measure it: wall time, CPU time, peak memory of its whole process tree, machine load.

Memory: every `interval` seconds the process tree (the child and all its descendants, found through
/proc/<pid>/task/*/children) is walked and the resident set sizes (VmRSS) and proportional set sizes
(Pss, from /proc/<pid>/smaps_rollup) of all its processes are added up; the peaks of both sums are kept.
RSS double-counts pages that forked workers share, PSS splits them; a spike shorter than the interval
can be missed. CPU: user + system seconds of the child and every descendant it waited for (wait4 rusage).
Load: the 1/5/15-minute load averages before and after, and the share of the machine's CPU time spent
by other processes while the command ran (busy jiffies in /proc/stat minus this tree's CPU time).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import threading
import time
from typing import Callable, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def busy_cpu_seconds() -> float:
    """Non-idle CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def wait_for_quiet(max_load: float, timeout_s: float, say: Callable[[str], None] = print) -> list[float]:
    """Wait until the 1-minute load average drops below `max_load` (at most `timeout_s`); returns the last reading."""
    start = time.monotonic()
    load = loadavg()
    announced = False
    while load[0] >= max_load and time.monotonic() - start < timeout_s:
        if not announced:
            say(f"  waiting for the machine to quieten (load {load[0]:.2f} >= {max_load}) ...")
            announced = True
        time.sleep(5)
        load = loadavg()
    return load


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


def _kib(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclasses.dataclass
class Measured:
    argv: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    peak_pss_mb: float
    peak_processes: int
    load_before: list[float]
    load_after: list[float]
    foreign_cpu_share: float
    """Share of the machine's CPU capacity used by other processes during the run (0..1)."""
    first_seen_s: float | None
    """Seconds from start until `watch` first returned True (None if it never did)."""
    stdout_tail: str
    stderr_tail: str

    def asdict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("stdout_tail")
        d.pop("stderr_tail")
        return d


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike | None = None,
    env: dict | None = None,
    interval: float = 0.05,
    watch: Callable[[], bool] | None = None,
    log: pathlib.Path | None = None,
    timeout_s: float | None = None,
) -> Measured:
    """Run `argv` to completion, polling its process tree; stdout and stderr go to `log` (or are kept)."""
    load_before = loadavg()
    busy_before = busy_cpu_seconds()
    out = open(log, "wb") if log else subprocess.PIPE
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT if log else subprocess.PIPE, start_new_session=True)
    peaks = {"rss": 0, "pss": 0, "n": 0, "seen": None}
    done = threading.Event()

    def poll():
        while not done.is_set():
            pids = tree(proc.pid)
            rss = sum(_kib(f"/proc/{p}/status", "VmRSS:") for p in pids)
            pss = sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
            peaks["rss"] = max(peaks["rss"], rss)
            peaks["pss"] = max(peaks["pss"], pss)
            peaks["n"] = max(peaks["n"], len(pids))
            if watch is not None and peaks["seen"] is None:
                try:
                    if watch():
                        peaks["seen"] = time.perf_counter() - start
                except Exception:
                    pass
            done.wait(interval)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    stdout = stderr = b""
    try:
        if log:
            _, status, usage = _wait4(proc, timeout_s, start)
        else:
            stdout, stderr = proc.communicate(timeout=timeout_s)
            status, usage = proc.returncode, None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        wall = time.perf_counter() - start
        done.set()
        poller.join()
        if log:
            out.close()
    if usage is not None:
        cpu = usage.ru_utime + usage.ru_stime
        code = os.waitstatus_to_exitcode(status)
    else:
        # communicate() reaped the child; fall back to the children's totals of this process
        cpu = float("nan")
        code = status
    busy = busy_cpu_seconds() - busy_before
    foreign = max(0.0, busy - (cpu if cpu == cpu else 0.0)) / max(wall * (os.cpu_count() or 1), 1e-9)
    text = pathlib.Path(log).read_text(errors="replace") if log else (stdout or b"").decode(errors="replace")
    return Measured(
        argv=list(map(str, argv)),
        returncode=code,
        wall_s=wall,
        cpu_s=cpu,
        peak_rss_mb=peaks["rss"] / 1024,
        peak_pss_mb=peaks["pss"] / 1024,
        peak_processes=peaks["n"],
        load_before=load_before,
        load_after=loadavg(),
        foreign_cpu_share=round(foreign, 3),
        first_seen_s=peaks["seen"],
        stdout_tail=text[-4000:],
        stderr_tail=(stderr or b"").decode(errors="replace")[-4000:],
    )


def _wait4(proc: subprocess.Popen, timeout_s: float | None, start: float):
    """wait4() on the child so its rusage (and its waited-for descendants') comes back; polls for the timeout."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        if timeout_s is not None and time.perf_counter() - start > timeout_s:
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
        time.sleep(0.02)
