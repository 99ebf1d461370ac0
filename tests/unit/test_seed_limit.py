"""The seed stream's rate limit (`[migration] stream_limit`): the job's real bash script and
its perl limiter run here against /dev/zero-like input, with `ssh` replaced by a receiver that
notes when each chunk arrived; the plan shows the limit; the step's progress carries the rate
and the limit. The rates are measured with generous bounds: a test of behaviour, not a
benchmark (a loaded machine makes the stream slower, never faster than the limit)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core import events as ev
from moodle_wizard.core.remote import jobs
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.registry import STEP_CLASSES
from moodle_wizard.core.steps.replicas import seed, seeding
from tests.unit.plan_fixtures import context

# The receiver: every read's time (monotonic) and size, one line each, to $OUT/<address>.
RECEIVER = r"""#!/usr/bin/perl
use strict;
# Not misled by a test's PERL5LIB (which hides Time::HiRes from the limiter only).
BEGIN { @INC = grep { !$ENV{PERL5LIB} || $_ ne $ENV{PERL5LIB} } @INC }
use Time::HiRes qw(time);
my $host = $ARGV[-1]; $host =~ s/^root@//;
open(my $log, ">", "$ENV{OUT}/$host") or die;
my $buf;
while (my $got = sysread(STDIN, $buf, 1 << 20)) { printf $log "%.6f %d\n", time, $got }
"""


def run_stream(tmp_path: Path, backup: str, limit: int | None, *, method: str = "physical",
               env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                            list[tuple[float, int]]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "ssh").write_text(RECEIVER)
    (bindir / "ssh").chmod(0o755)
    (bindir / "backup").write_text(f"#!/bin/bash\n{backup}\n")
    (bindir / "backup").chmod(0o755)
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    script = seed.sender_script(method, "backup", [seed.Receiver("db2", "10.0.0.12", 22)],
                                str(work), check_workdir=False, limit=limit)
    proc = subprocess.run(["bash", "-c", script], text=True, capture_output=True, timeout=120,
                          env={"PATH": f"{bindir}:/usr/bin:/bin", "OUT": str(out),
                               **(env or {})})
    chunks = [(float(t), int(n)) for t, n in
              (line.split() for line in (out / "10.0.0.12").read_text().splitlines())]
    return proc, chunks


def overall_rate(chunks: list[tuple[float, int]]) -> float:
    """Bytes a second from the first chunk's arrival to the last's (the first chunk left
    at the start: it is not part of the span)."""
    return sum(n for _, n in chunks[1:]) / (chunks[-1][0] - chunks[0][0])


def busiest_second(chunks: list[tuple[float, int]]) -> int:
    """The most bytes that arrived within any one second."""
    most, start, inside = 0, 0, 0
    for t, n in chunks:
        inside += n
        while t - chunks[start][0] > 1.0:
            inside -= chunks[start][1]
            start += 1
        most = max(most, inside)
    return most


def test_the_limit_is_held_over_a_stream_of_seconds(tmp_path: Path) -> None:
    limit = 20_000_000
    proc, chunks = run_stream(tmp_path, "head -c 80000000 /dev/zero", limit)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rate limiter exit 0" in proc.stdout
    assert sum(n for _, n in chunks) == 80_000_000, "every byte arrived"
    rate = overall_rate(chunks)
    print(f"\nlimit {limit / 1e6:.1f} MB/s: measured {rate / 1e6:.2f} MB/s over "
          f"{chunks[-1][0] - chunks[0][0]:.2f} s")
    assert rate <= limit * 1.10, f"{rate / 1e6:.2f} MB/s is over the limit"
    assert rate >= limit * 0.6, f"{rate / 1e6:.2f} MB/s: far under the limit"


def test_a_stalled_backup_does_not_burst_afterwards(tmp_path: Path) -> None:
    """mariadb-backup can pause (a lock, a slow file): the limiter catches up a quarter of a
    second at most, so no second afterwards carries much more than the limit. Without the cap,
    the second after a 2 s pause would carry three times the limit."""
    limit = 10_000_000
    proc, chunks = run_stream(
        tmp_path, "head -c 5000000 /dev/zero; sleep 2; head -c 30000000 /dev/zero", limit)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    most = busiest_second(chunks)
    assert most <= limit * 1.25 + 2**20, f"{most} bytes within one second"
    assert overall_rate(chunks) <= limit * 1.10


def test_without_time_hires_the_clock_is_proc_uptime(tmp_path: Path) -> None:
    """perl-base alone has no Time::HiRes: the limiter still holds the limit."""
    fake = tmp_path / "perl5" / "Time"
    fake.mkdir(parents=True)
    (fake / "HiRes.pm").write_text('die "no Time::HiRes here\\n";\n')
    limit = 20_000_000
    proc, chunks = run_stream(tmp_path, "head -c 50000000 /dev/zero", limit,
                              env={"PERL5LIB": str(tmp_path / "perl5")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert overall_rate(chunks) <= limit * 1.10
    assert overall_rate(chunks) >= limit * 0.6


def test_a_limited_logical_stream_keeps_the_dumps_gtid_and_every_byte(tmp_path: Path) -> None:
    dump = ("printf -- \"-- MariaDB dump\\nSET GLOBAL gtid_slave_pos='0-1-42';\\n\"; "
            "head -c 3000000 /dev/urandom | base64")
    proc, chunks = run_stream(tmp_path, dump, 5_000_000, method="logical")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gtid_slave_pos='0-1-42'" in (tmp_path / "work" / "gtid.txt").read_text()
    assert sum(n for _, n in chunks) > 3_000_000


def test_a_failing_backup_is_named_before_the_limiter(tmp_path: Path) -> None:
    proc, _ = run_stream(tmp_path, "head -c 100000 /dev/zero; echo broken >&2; exit 3",
                         10_000_000)
    assert proc.returncode == 10, proc.stdout + proc.stderr
    assert "backup exit 3" in proc.stdout and "broken" in proc.stdout


def test_a_failing_limiter_is_named_not_the_backup_it_stopped(tmp_path: Path) -> None:
    """Without a working perl the backup dies on its closed pipe: the job says the limiter."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "perl").write_text("#!/bin/bash\necho 'perl: broken' >&2\nexit 2\n")
    (bindir / "perl").chmod(0o755)
    (bindir / "ssh").write_text("#!/bin/bash\ncat > /dev/null\n")
    (bindir / "ssh").chmod(0o755)
    (bindir / "backup").write_text("#!/bin/bash\nhead -c 10000000 /dev/zero\n")
    (bindir / "backup").chmod(0o755)
    script = seed.sender_script("physical", "backup", [seed.Receiver("db2", "10.0.0.12", 22)],
                                str(tmp_path), check_workdir=False, limit=1_000_000)
    proc = subprocess.run(["bash", "-c", script], text=True, capture_output=True, timeout=60,
                          env={"PATH": f"{bindir}:/usr/bin:/bin"})
    assert proc.returncode == seed.LIMITER_EXIT, proc.stdout + proc.stderr
    assert "rate limiter exit 2" in proc.stdout and "remove stream_limit" in proc.stdout
    assert "perl: broken" in proc.stderr


def test_no_limit_no_limiter() -> None:
    script = seed.sender_script("physical", "backup", [seed.Receiver("db2", "10.0.0.12", 22)],
                                "/x", check_workdir=False)
    assert "mw_rate_limit" not in script and "perl" not in script


def _limited(data: dict[str, Any], _state: dict[str, Any]) -> None:
    data["migration"]["stream_limit"] = "50MB/s"


def test_the_plan_shows_the_limit_in_the_command_that_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch, edit=_limited)
    step = STEP_CLASSES[StepName.REPLICAS](ctx)
    stream = next(a for a in step.plan() if a.id == "stream")
    text = "\n".join(stream.runbook)
    assert "at most 50MB/s" in text.splitlines()[0], "the start line's note names it"
    assert "# stream_limit: at most 50.0 MB/s (50000000 bytes a second) leave this host" in text
    assert ("--target-dir=/var/lib/moodle-wizard/seed/tmp 2> backup.log | "
            "mw_rate_limit 50000000 > stream") in text
    # The rendered command is the job's own script.
    assert isinstance(step, seeding.Seeding)
    assert step.stream_command().script.rstrip() in text


def test_the_watch_reports_the_rate_and_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch, edit=_limited)
    seen: list[ev.Event] = []
    ctx._emit = seen.append
    step = STEP_CLASSES[StepName.REPLICAS](ctx)
    assert isinstance(step, seeding.Seeding)
    counts = iter([(1.0, 0), (2.0, 50_000_000), (3.0, 99_000_000), (4.0, 150_000_000)])
    now = [0.0]

    async def job_status(host: Any, ref: jobs.JobRef, wait_s: float = 0.0,
                         **_: Any) -> jobs.JobStatus:
        got = next(counts, None)
        if got is None:
            return jobs.JobStatus(jobs.JobState.SUCCEEDED, 0, None, 150_000_000, "")
        now[0] = got[0]
        return jobs.JobStatus(jobs.JobState.RUNNING, None, 1, got[1], "")

    monkeypatch.setattr(jobs, "job_status", job_status)
    monkeypatch.setattr(seeding, "time", SimpleNamespace(monotonic=lambda: now[0]))
    asyncio.run(step._watch(None, jobs.JobRef("db1", "seed-x", "/d")))
    progress = [e for e in seen if isinstance(e, ev.Progress)]
    assert [p.limit for p in progress] == [50_000_000] * 6
    assert progress[0].rate is None, "one sample is no rate"
    assert progress[1].rate == 50_000_000
    assert progress[3].rate == 50_000_000  # (150 MB - 0) over 3 s
