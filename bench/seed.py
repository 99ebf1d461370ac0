"""Figures 1-3: the wizard's seed against the same pipe by hand, one replica against two, and
the logical method against the physical one. Alternating, several repetitions, medians."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.labkit import (
    Wizard,
    action_times,
    lab_address,
    run,
    seconds,
    sh,
    stamp,
    step_seconds,
)

DATADIR = "/var/lib/mysql"
HAND_DIR = "/var/tmp/bench-hand"


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine: every lab host shares its cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_since(start: tuple[int, int]) -> float:
    """How busy the machine's cores were since `start`, 0..1."""
    busy, total = cpu_jiffies()
    return round((busy - start[0]) / max(1, total - start[1]), 3)


class CpuSampler:
    """/proc/stat twice a second in a thread, to tell afterwards how busy the machine was in
    a window known only from the journal."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), *cpu_jiffies()))
            if self._stop.wait(0.5):
                return

    def busy_between(self, a: float, b: float) -> float | None:
        inside = [s for s in self.samples if a <= s[0] <= b]
        if len(inside) < 2:
            return None
        (_, b0, t0), (_, b1, t1) = inside[0], inside[-1]
        return round((b1 - b0) / max(1, t1 - t0), 3)


def replica_is_empty(host: str) -> None:
    out = sh(host, f"ls -A {DATADIR}; pidof mariadbd || true").stdout.strip()
    if out:
        raise RuntimeError(f"{host} must have an empty {DATADIR} and no server running "
                           f"before a seed (found: {out[:200]}); is a migration still in the lab?")


def hand_seed(replica: str = "db2") -> dict[str, float]:
    """What an operator types: mariadb-backup streamed over ssh into mbstream, then prepare.
    Default ssh options (an operator's), a key of its own, removed afterwards."""
    replica_is_empty(replica)
    address = lab_address(replica)
    # The key is not part of the seed's time (an operator has one already), but it is timed:
    # the wizard's seed-key action does the same work, and the timeline sets them side by side.
    k0 = time.monotonic()
    sh("db1", f"rm -rf {HAND_DIR} && install -d -m 0700 {HAND_DIR}/tmp && "
              f"ssh-keygen -q -t ed25519 -N '' -C bench-hand -f {HAND_DIR}/key")
    pub = run("db1", "cat", f"{HAND_DIR}/key.pub").stdout.strip()
    sh(replica, f"echo '{pub}' >> /root/.ssh/authorized_keys")
    key = time.monotonic() - k0
    ssh = (f"ssh -i {HAND_DIR}/key -o BatchMode=yes -o StrictHostKeyChecking=accept-new "
           f"-o UserKnownHostsFile={HAND_DIR}/known_hosts root@{address}")
    try:
        t0, cpu0 = time.monotonic(), cpu_jiffies()
        sh("db1", f"set -o pipefail; mariadb-backup --backup --stream=xbstream "
                  f"--target-dir={HAND_DIR}/tmp 2>{HAND_DIR}/backup.log | "
                  f"{ssh} 'mbstream -x -C {DATADIR}'")
        streamed = time.monotonic()
        sh(replica, f"mariadb-backup --prepare --target-dir={DATADIR} >/dev/null 2>&1")
        took = time.monotonic() - t0
        prepare = t0 + took - streamed
        cpu = busy_since(cpu0)
    finally:
        sh(replica, "sed -i '/ bench-hand$/d' /root/.ssh/authorized_keys")
        sh(replica, f"find {DATADIR} -mindepth 1 -delete")
        sh("db1", f"rm -rf {HAND_DIR}")
    return {"seed_s": round(took, 2), "cpu_busy": cpu, "key_s": round(key, 2),
            "stream_s": round(took - prepare, 2), "prepare_s": round(prepare, 2)}


def seed_inventory(wizard: Wizard, method: str, replicas: tuple[str, ...]) -> str:
    """The seed alone: the classic order, whose `--until replicas` stops after the seed without
    ProxySQL, the VIP and the cutover before it (the proxy-first order runs them first); db1's
    restart agreed in advance (`run --yes` refuses it otherwise)."""
    path = wizard.inventory(method=method, replicas=replicas)
    text = run("jump", "cat", path).stdout
    changed = text.replace('source_restart = "ask"', 'source_restart = "allow"').replace(
        "[migration]\n", '[migration]\norder = "classic"\n', 1)
    assert changed.count('"allow"') == 1 and 'order = "classic"' in changed, path
    run("jump", "sh", "-c", f"cat > {path}", input=changed.encode())
    return path


def wizard_seed(method: str, replicas: tuple[str, ...]) -> dict[str, Any]:
    """The wizard's `run --until replicas`; the seed is the stream plus the prepares (the same
    work as the hand pipe), timed from the journal. Rolled back afterwards."""
    for r in replicas:
        replica_is_empty(r)
    wizard = Wizard()
    try:
        inventory = seed_inventory(wizard, method, replicas)
        t0 = time.monotonic()
        with CpuSampler() as cpu:
            wizard("run", "--inventory", inventory, "--until", "replicas", "--yes")
        wall = time.monotonic() - t0
        state = wizard.state()
        times = action_times(state, "replicas")
        seeded = [t for a, t in times.items() if a == "stream" or a.startswith("prepare:")]
        start, end = min(t[0] for t in seeded), max(t[1] for t in seeded)
        result = {"seed_s": round(seconds(start, end), 2),
                  "cpu_busy": cpu.busy_between(stamp(start), stamp(end)),
                  "stream_s": round(seconds(*times["stream"]), 2),
                  "replicas_step_s": step_seconds(state)["replicas"], "wall_s": round(wall, 2),
                  "actions_s": {a: round(seconds(*t), 2) for a, t in times.items()}}
        wizard("rollback", "--yes")
        return result
    finally:
        wizard.clean()


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 2) if xs else 0.0


def measure_seed(reps: int, log: Any,
                 variants: tuple[str, ...] = ("hand", "one", "two", "logical")) -> dict[str, Any]:
    hand: list[dict[str, float]] = []
    one: list[dict[str, Any]] = []
    two: list[dict[str, Any]] = []
    logical: list[dict[str, Any]] = []
    for rep in range(reps):
        # Alternate the order, so that a warmer cache cannot always favour the same side.
        order = list(variants)
        if rep % 2:
            order.reverse()
        for what in order:
            if what == "hand":
                hand.append(hand_seed())
                log(f"  rep {rep + 1}: hand pipe to db2 {hand[-1]['seed_s']:.1f} s")
            elif what == "one":
                one.append(wizard_seed("physical", ("db2",)))
                log(f"  rep {rep + 1}: wizard physical to db2 {one[-1]['seed_s']:.1f} s")
            elif what == "two":
                two.append(wizard_seed("physical", ("db2", "db3")))
                log(f"  rep {rep + 1}: wizard physical to db2+db3 {two[-1]['seed_s']:.1f} s")
            else:
                logical.append(wizard_seed("logical", ("db2", "db3")))
                log(f"  rep {rep + 1}: wizard logical to db2+db3 {logical[-1]['seed_s']:.1f} s")
    one_s = median([r["seed_s"] for r in one])
    two_s = median([r["seed_s"] for r in two])
    logical_s = median([r["seed_s"] for r in logical])
    hand_s = median([r["seed_s"] for r in hand])
    if not (one and two and logical and hand):
        return {"hand": hand, "one": one, "two": two, "logical": logical}
    return {
        "hand_seed_s": {"samples": hand, "median": hand_s},
        "wizard_seed_one_s": {"samples": one, "median": one_s},
        "wizard_seed_two_s": {"samples": two, "median": two_s},
        "wizard_logical_two_s": {"samples": logical, "median": logical_s},
        "seed_overhead": round(one_s / hand_s, 3),
        "fan_out": round(two_s / one_s, 3),
        "logical_vs_physical": round(logical_s / two_s, 3),
    }
