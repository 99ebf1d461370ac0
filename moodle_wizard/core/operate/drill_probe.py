"""The drills' probe: Moodle's view of the database while a drill changes the primary.

probe.php runs on Moodle's first app host (where Moodle's traffic really comes from) and, as
each Moodle request does, connects with mysqli to VIP:client port as Moodle's user, writes
once and disconnects, every 20 ms. Each attempt is one line on its stdout, read here as it
arrives; the figures (failed writes, pauses, the outage after a crash) are computed from
those lines by the pure functions below.

The write: on the lab, a real INSERT into the lab's own table mdl_mwlab_probe (not a Moodle
table), one random token per row, so a write acknowledged to the client and missing from the
new primary is counted as lost. On a real site the drill must not touch Moodle's tables: the
write is `DELETE FROM {prefix}config WHERE 1 = 0`, which a read-only server refuses and which
changes nothing (nothing reaches the binary log); lost transactions are then counted by GTID
(the old primary's @@gtid_binlog_state against the new one's), not per write.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.poll import PollTimeout, poll_until
from moodle_wizard.core.sql.quoting import quote_identifier

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context
    from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = ["Attempt", "DrillError", "Probe", "ProbeLog", "Window", "clock_offset", "first_ok",
           "longest_pause", "lost_tokens", "outage_after", "parse_line", "probe_script", "window"]

PROBE_PHP = resources.files("moodle_wizard.core.operate").joinpath("probe.php")
INTERVAL_S = 0.02
CONNECT_TIMEOUT_S = 2
# The probe stops by itself after this long (a drill takes a few minutes at most).
MAX_S = 1800
LAB_TABLE = "mwlab_probe"
LAB_TAG = "mw-drill"


class DrillError(OperatorError):
    """A drill could not be run or finished; the line says what to do."""


@dataclass(frozen=True)
class Attempt:
    """One write as the client saw it, on the app host's clock (seconds since the epoch)."""

    start: float
    end: float
    ok: bool
    token: str = ""  # ok writes that carry one
    error: str = ""  # failed ones: "ERRNO connect: ..." or "ERRNO write: ..."


def parse_line(line: str) -> Attempt | None:
    """One probe line; None for anything that is not an attempt ("end", PHP's notices)."""
    parts = line.strip().split(" ", 4)
    if len(parts) < 4 or parts[0] not in ("ok", "fail"):
        return None
    try:
        start, end = float(parts[1]), float(parts[2])
    except ValueError:
        return None
    if parts[0] == "ok":
        return Attempt(start, end, True, token="" if parts[3] == "-" else parts[3])
    return Attempt(start, end, False, error=" ".join(parts[3:]))


@dataclass
class ProbeLog:
    """Every attempt so far, and whether the probe said "end"."""

    attempts: list[Attempt] = field(default_factory=list)
    ended: bool = False
    other: list[str] = field(default_factory=list)  # lines that were not attempts

    def add(self, line: str) -> None:
        attempt = parse_line(line)
        if attempt is not None:
            self.attempts.append(attempt)
        elif line.strip() == "end":
            self.ended = True
        elif line.strip():
            self.other.append(line.strip())

    @property
    def ok(self) -> list[Attempt]:
        return [a for a in self.attempts if a.ok]

    @property
    def failed(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.ok]

    def first_ok_after(self, t: float, ending_after: float | None = None) -> Attempt | None:
        return first_ok(self.attempts, t, ending_after)


@dataclass(frozen=True)
class Window:
    """The writes of one stretch of a drill (a switchover leg, a failover)."""

    ok: int
    failed: int
    longest_pause_s: float
    errors: tuple[str, ...]  # the first few failures' texts, for the report


def longest_pause(attempts: Sequence[Attempt], start: float, end: float) -> float:
    """The longest time Moodle could not complete a write during [start, end]: the largest gap
    between consecutive successful writes' completions, counting the last one before `start`
    and the first one after `end` (a write held through the whole window shows as one long
    gap, not as none)."""
    ends = sorted(a.end for a in attempts if a.ok)
    before = [e for e in ends if e < start][-1:]
    inside = [e for e in ends if start <= e <= end]
    after = [e for e in ends if e > end][:1]
    points = before + inside + after
    if not points:
        return end - start
    # A window with no completion on one side: the pause runs to that side's edge.
    edges = ([] if before else [start]) + points + ([] if after else [end])
    return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)


def window(attempts: Sequence[Attempt], start: float, end: float) -> Window:
    """Counts over the attempts that ended inside [start, end]."""
    inside = [a for a in attempts if start <= a.end <= end]
    failed = [a for a in inside if not a.ok]
    return Window(sum(a.ok for a in inside), len(failed),
                  round(longest_pause(attempts, start, end), 3),
                  tuple(dict.fromkeys(a.error for a in failed))[:3])


def first_ok(attempts: Sequence[Attempt], t: float,
             ending_after: float | None = None) -> Attempt | None:
    """The first successful write begun at or after `t` (and acknowledged after
    `ending_after`, when given)."""
    return next((a for a in sorted(attempts, key=lambda a: a.start)
                 if a.ok and a.start >= t and (ending_after is None or a.end > ending_after)),
                None)


def outage_after(attempts: Sequence[Attempt], t: float,
                 ending_after: float | None = None) -> float | None:
    """Seconds from `t` until a write begun at or after `t` succeeded (None: none did).
    After a crash, `ending_after` is the failover's start: a write acknowledged before it was
    taken by the dying server in the moment between the clock's reading and the kill, not
    by a primary that serves again."""
    first = first_ok(attempts, t, ending_after)
    return None if first is None else first.end - t


def lost_tokens(acknowledged: Sequence[str], found: set[str]) -> list[str]:
    """Writes Moodle was told were committed and that the primary does not have."""
    return [t for t in acknowledged if t and t not in found]


async def clock_offset(host: RemoteHost) -> float:
    """The host's clock minus the wizard's, from the sample with the shortest round trip
    (its error is at most half of that trip)."""
    best: tuple[float, float] | None = None
    for _ in range(3):
        t0 = time.time()
        out = await host.run(["date", "+%s.%N"], timeout=30)
        t1 = time.time()
        sample = (t1 - t0, float(out.stdout.strip()) - (t0 + t1) / 2)
        if best is None or sample[0] < best[0]:
            best = sample
    assert best is not None
    return best[1]


def probe_script(conf: Mapping[str, object]) -> str:
    """probe.php with its settings in a prelude, for `php` to read on stdin (base64: no
    quoting of the password inside PHP source to get wrong)."""
    encoded = base64.b64encode(json.dumps(dict(conf)).encode()).decode()
    return (f"<?php $MW_PROBE = json_decode(base64_decode('{encoded}'), true); ?>\n"
            + PROBE_PHP.read_text())


class Probe:
    """probe.php running on Moodle's first app host, its lines parsed as they arrive; times
    in `log` are converted to the wizard's clock."""

    def __init__(self, ctx: Context, *, lab_table: bool) -> None:
        self.ctx = ctx
        self.app = ctx.inventory.apps[0]
        self.lab_table = lab_table
        self.log = ProbeLog()
        self.offset = 0.0
        self.stop_file = f"/tmp/mw-drill-probe-{secrets.token_hex(6)}.stop"
        self._task: asyncio.Task[object] | None = None
        self.write_text = ""

    def statement(self) -> str:
        prefix = self.ctx.discovered.moodle.prefix or "mdl_"
        if self.lab_table:
            table = quote_identifier(f"{prefix}{LAB_TABLE}")
            self.write_text = f"INSERT INTO {prefix}{LAB_TABLE} (one row per write)"
            return (f"INSERT INTO {table} (token, apphost, timecreated) "
                    f"VALUES ('{{token}}', '{LAB_TAG}', UNIX_TIMESTAMP())")
        self.write_text = f"DELETE FROM {prefix}config WHERE 1 = 0 (changes nothing)"
        return f"DELETE FROM {quote_identifier(prefix + 'config')} WHERE 1 = 0"

    async def start(self) -> None:
        ctx, inv = self.ctx, self.ctx.inventory
        assert inv.vip is not None
        moodle = ctx.discovered.moodle
        conf = {"host": inv.vip.address, "port": inv.proxysql.client_port,
                "user": moodle.dbuser or "", "password": await ctx.moodle_password(),
                "database": moodle.dbname or "", "statement": self.statement(),
                "interval": INTERVAL_S, "connect_timeout": CONNECT_TIMEOUT_S, "max_s": MAX_S,
                "stop": self.stop_file}
        script = probe_script(conf)
        host = await ctx.host(self.app)
        self.offset = await clock_offset(host)
        await host.run(["rm", "-f", self.stop_file], timeout=30)

        def line(text: str) -> None:
            attempt = parse_line(text)
            if attempt is None:
                self.log.add(text)
                return
            self.log.attempts.append(Attempt(attempt.start - self.offset,
                                             attempt.end - self.offset, attempt.ok,
                                             attempt.token, ctx.secrets.mask(attempt.error)))

        # `php` reads the script from stdin: the password never on a command line or disk.
        self._task = asyncio.create_task(host.run(
            ["php"], input=script, on_line=line, check=False, timeout=MAX_S + 60,
            display=f"php < (the drill's probe: {self.write_text} through "
                    f"{inv.vip.address}:{inv.proxysql.client_port} every "
                    f"{INTERVAL_S * 1000:.0f} ms)"))

        async def writing() -> bool | None:
            if self._task is not None and self._task.done():
                raise DrillError(self._why_not())
            return True if self.log.ok else None

        try:
            await poll_until(writing, timeout_s=20, interval_s=0.05, what=self._why_not)
        except PollTimeout:
            await self.stop()
            raise DrillError(self._why_not()) from None

    def _why_not(self) -> str:
        seen = (self.log.failed[-1].error if self.log.failed else
                "; ".join(self.log.other[-3:]) or "no output")
        return (f"the drill's probe on {self.app} could not write through the VIP as Moodle's "
                f"user ({seen}): check `moodle-wizard health` and that PHP's mysqli is "
                f"installed on {self.app}")

    async def stop(self) -> ProbeLog:
        """Stop it (its stop file) and wait for its last line."""
        if self._task is None:
            return self.log
        host = await self.ctx.host(self.app)
        try:
            await host.run(["touch", self.stop_file], timeout=30)
            await asyncio.wait_for(asyncio.shield(self._task), CONNECT_TIMEOUT_S + 15)
        except TimeoutError:
            self._task.cancel()  # its `timeout` still ends it on the host after MAX_S
        except OperatorError as exc:
            # Its SSH connection was lost, say: what it wrote so far still counts.
            self.log.other.append(self.ctx.secrets.mask(str(exc)))
        finally:
            await host.run(["rm", "-f", self.stop_file], timeout=30, check=False)
            self._task = None
        return self.log

    async def __aenter__(self) -> Probe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
