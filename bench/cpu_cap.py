"""Hold benchmark server processes to a fraction of one core each, with a Linux CPU cgroup per process.

The scale-out target (issue 16) asks whether a second worker process adds what the first gives. On a machine of
two cores shared with PostgreSQL and the load driver, PostgreSQL runs out of CPU before either worker does, so the
second worker has nothing to add and the ratio measures the machine, not the gateway. With each worker capped at,
say, a fifth of a core, the workers are the limit, as they would be with cores to spare; a lock or any other
serialisation shared between them then shows as a ratio well under 2, and its absence as a ratio near 2.

Needs root and the cgroup `cpu` controller: v1 (/sys/fs/cgroup/cpu, cpu.cfs_quota_us) or v2 (cpu.max).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

PERIOD_US = 100_000
_V1 = Path("/sys/fs/cgroup/cpu")
_V2 = Path("/sys/fs/cgroup")


def _root() -> tuple[Path, int]:
    """The cpu controller's root and its cgroup version, or RuntimeError saying why there is none."""
    if (_V1 / "cpu.cfs_quota_us").exists():
        return _V1, 1
    controllers = _V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return _V2, 2
    raise RuntimeError("no writable cgroup cpu controller here: --worker-cpu needs one (and root)")


@contextlib.contextmanager
def capped(pids: Sequence[int], cores: float) -> Iterator[None]:
    """Each process (with its threads and any children it starts) held to `cores` of one core while inside."""
    if not 0 < cores <= (os.cpu_count() or 1):
        raise ValueError("the cap is a positive fraction of the machine's cores")
    root, version = _root()
    quota = int(cores * PERIOD_US)
    groups: list[Path] = []
    try:
        for pid in pids:
            group = root / f"gateway-bench-{pid}"
            group.mkdir(exist_ok=True)
            groups.append(group)
            if version == 1:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        for group in groups:
            # Back to the root group (a process that has exited is simply gone), then the empty group removed.
            for member in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (root / "cgroup.procs").write_text(member)
            with contextlib.suppress(OSError):
                group.rmdir()


def throttled_seconds(pid: int) -> float | None:
    """How long the cap held the process back so far (cgroup v1 cpu.stat throttled_time), when known."""
    root, version = _root()
    stat = root / f"gateway-bench-{pid}" / "cpu.stat"
    if not stat.exists():
        return None
    fields = dict(line.split() for line in stat.read_text().splitlines() if len(line.split()) == 2)
    if version == 1 and "throttled_time" in fields:
        return int(fields["throttled_time"]) / 1e9
    if version == 2 and "throttled_usec" in fields:
        return int(fields["throttled_usec"]) / 1e6
    return None
