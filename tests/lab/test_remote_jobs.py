"""Detached jobs on the lab's hosts: they outlive the connection, report, and can be killed."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from moodle_wizard.core.remote.errors import RemoteError
from moodle_wizard.core.remote.jobs import (
    ForeignJobDirectory,
    JobRef,
    JobState,
    JobStatus,
    cancel_job,
    job_dir,
    job_status,
    remove_job,
    start_job,
    wait_job,
)
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.remote.ssh import RemoteHost, SshTarget
from moodle_wizard.lab import lab
from tests.lab.conftest import Lab

KEY = str(lab.LABDIR / "ssh" / "id_ed25519")
HOST = "db3"
# A job that waits until the test lets it go: `touch "$MW_JOB_DIR/go"`.
WAIT_FOR_GO = 'while [ ! -e "$MW_JOB_DIR/go" ]; do sleep 0.05; done\n'


@dataclass
class Env:
    lab: Lab
    policy: HostKeyPolicy
    base: str
    pool: SshPool
    host: RemoteHost
    refs: list[JobRef] = field(default_factory=list)

    @property
    def target(self) -> SshTarget:
        return SshTarget(HOST, self.lab.topo.host_address(HOST), client_keys=(KEY,))

    async def start(self, script: str, secret_files: dict[str, str] | None = None) -> JobRef:
        job_id = f"t-{secrets.token_hex(4)}"
        ref = await start_job(self.host, job_id, script, base_dir=self.base,
                              secret_files=secret_files)
        self.refs.append(ref)
        return ref

    async def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command on the host, outside the SSH layer under test."""
        return await asyncio.to_thread(self.lab.exec, HOST, "sh", "-c", script, check=check)

    async def go(self, ref: JobRef) -> None:
        await self.sh(f"touch {ref.directory}/go")


async def until(condition: Callable[[], Awaitable[bool]], what: str,
                timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def env(running_lab: Lab, tmp_path: Path) -> AsyncIterator[Env]:
    known = tmp_path / "known_hosts"
    known.write_bytes((lab.LABDIR / "ssh" / "known_hosts").read_bytes())
    policy = HostKeyPolicy(known)
    # Like the real base: root's own all the way from / (a base under /var/tmp is refused).
    base = f"/var/lib/mw-test-{secrets.token_hex(4)}/jobs"
    pool = SshPool(policy, connect_timeout=5)
    host = await pool.connect(SshTarget(HOST, running_lab.topo.host_address(HOST),
                                        client_keys=(KEY,)))
    e = Env(running_lab, policy, base, pool, host)
    try:
        yield e
    finally:
        async with SshPool(policy) as cleanup:
            h = await cleanup.connect(e.target)
            for ref in e.refs:
                await cancel_job(h, ref, grace=1, base_dir=base)
            await h.run(["rm", "-rf", base.rpartition("/")[0]])
        await pool.close()


async def alive(env: Env, pid: int) -> bool:
    """The process exists and is not a zombie."""
    state = await env.sh(f"sed -n 's/^State:[[:space:]]*//p' /proc/{pid}/status", check=False)
    return state.returncode == 0 and state.stdout[:1] not in ("", "Z", "X")


async def test_a_job_runs_detached_and_reports_output_progress_and_exit_code(env: Env) -> None:
    ref = await env.start('echo "to stdout"; echo "to stderr" >&2\n'
                          'echo 4096 > progress.tmp && mv progress.tmp progress\n'
                          + WAIT_FOR_GO + 'echo done; exit 3\n')
    assert ref.directory == job_dir(ref.job_id, env.base)
    running = await job_status(env.host, ref, base_dir=env.base)
    assert running.state is JobState.RUNNING and running.exit_code is None
    assert running.pid is not None

    # Its own session and process group, no terminal, stdin from /dev/null.
    ps = (await env.sh(f"ps -o sid=,pgid=,tty= -p {running.pid}")).stdout.split()
    assert ps == [str(running.pid), str(running.pid), "?"]
    stdin = await env.sh(f"readlink /proc/{running.pid}/fd/0")
    assert stdin.stdout.strip() == "/dev/null"

    async def progressed() -> bool:
        return (await job_status(env.host, ref, base_dir=env.base)).progress_bytes == 4096

    await until(progressed, "the progress file")
    await env.go(ref)
    seen: list[JobStatus] = []
    final = await wait_job(env.host, ref, base_dir=env.base, on_progress=seen.append,
                           poll=0.05, timeout=20)
    assert final.state is JobState.FAILED and final.exit_code == 3
    assert final.output_tail.splitlines() == ["to stdout", "to stderr", "done"]
    assert seen[-1] == final


async def test_the_same_job_id_starts_one_process(env: Env) -> None:
    job_id = f"t-{secrets.token_hex(4)}"
    script = 'echo "$$" >> "$MW_JOB_DIR/starts"\n' + WAIT_FOR_GO
    refs = await asyncio.gather(*(start_job(env.host, job_id, script, base_dir=env.base)
                                  for _ in range(3)))
    env.refs.append(refs[0])
    assert len(set(refs)) == 1
    ref = refs[0]
    await env.go(ref)
    final = await wait_job(env.host, ref, base_dir=env.base, poll=0.05, timeout=20)
    assert final.state is JobState.SUCCEEDED
    assert await start_job(env.host, job_id, "echo never", base_dir=env.base) == ref
    starts = await env.sh(f"cat {ref.directory}/starts")
    assert len(starts.stdout.split()) == 1
    assert (await job_status(env.host, ref, base_dir=env.base)).state is JobState.SUCCEEDED
    leftovers = await env.sh(f"ls -A {env.base}")
    assert leftovers.stdout.split() == [ref.job_id], "no staging directory left behind"


async def test_a_job_survives_the_wizard_closing_its_connection(env: Env) -> None:
    ref = await env.start('echo "started"\n' + WAIT_FOR_GO + 'echo "finished"\n')
    saved = json.dumps(ref.to_dict())
    await env.pool.close()

    async with SshPool(env.policy) as again:
        host = await again.connect(env.target)
        ref2 = JobRef.from_dict(json.loads(saved), env.base)
        assert ref2 == ref
        assert (await job_status(host, ref2, base_dir=env.base)).state is JobState.RUNNING
        await env.go(ref2)
        final = await wait_job(host, ref2, poll=0.05, timeout=20, base_dir=env.base)
    assert final.state is JobState.SUCCEEDED and final.exit_code == 0
    assert final.output_tail == "started\nfinished\n"


async def test_a_job_killed_without_an_exit_code_is_lost(env: Env) -> None:
    ref = await env.start(WAIT_FOR_GO, secret_files={"db.cnf": "[client]\npassword=x\n"})
    status = await job_status(env.host, ref, base_dir=env.base)
    assert status.state is JobState.RUNNING and status.pid is not None
    await env.sh(f"kill -s KILL -- -{status.pid}")

    async def lost() -> bool:
        return (await job_status(env.host, ref, base_dir=env.base)).state is JobState.LOST

    await until(lost, "the job to be seen as lost")
    final = await job_status(env.host, ref, base_dir=env.base)
    assert final.exit_code is None
    gone = await env.sh(f"test -e {ref.directory}/secret", check=False)
    assert gone.returncode == 1, "a lost job's secrets are removed"


async def test_cancel_kills_the_whole_process_group_and_nothing_else(env: Env) -> None:
    decoy_file = f"{env.base}-decoy.pid"
    await env.sh(f"install -d -m 0700 {env.base}; setsid -f sh -c 'echo $$ > {decoy_file}; "
                 f"exec sleep 300' < /dev/null > /dev/null 2>&1")

    async def decoy_started() -> bool:
        return (await env.sh(f"test -s {decoy_file}", check=False)).returncode == 0

    await until(decoy_started, "the decoy")
    decoy_pid = int((await env.sh(f"cat {decoy_file}")).stdout)
    ref = await env.start('sleep 300 & echo $! >> kids\n'
                          'sh -c "sleep 300" & echo $! >> kids\n'
                          'wait\n',
                          secret_files={"pw": "s3cret"})

    async def two_kids() -> bool:
        out = await env.sh(f"cat {ref.directory}/kids 2>/dev/null || true")
        return len(out.stdout.split()) == 2

    await until(two_kids, "the job's children")
    kids = [int(p) for p in (await env.sh(f"cat {ref.directory}/kids")).stdout.split()]
    runner = (await job_status(env.host, ref, base_dir=env.base)).pid
    assert runner is not None
    await cancel_job(env.host, ref, base_dir=env.base)
    for pid in (runner, *kids):
        assert not await alive(env, pid), f"pid {pid} of the job survived"
    assert await alive(env, decoy_pid), "a process outside the job, same name, untouched"
    await env.sh(f"kill {decoy_pid}")

    final = await job_status(env.host, ref, base_dir=env.base)
    assert final.state is JobState.FAILED and final.exit_code == 143
    await cancel_job(env.host, ref, base_dir=env.base)  # idempotent
    secret = await env.sh(f"test -e {ref.directory}/secret", check=False)
    assert secret.returncode == 1
    await remove_job(env.host, ref, base_dir=env.base)
    await remove_job(env.host, ref, base_dir=env.base)  # idempotent
    assert (await job_status(env.host, ref, base_dir=env.base)).state is JobState.LOST


async def test_secret_files_are_private_while_running_and_gone_afterwards(env: Env) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    ref = await env.start('grep -c "password=" "$MW_JOB_DIR/secret/mysql.cnf"\n' + WAIT_FOR_GO,
                          secret_files={"mysql.cnf": f"[client]\npassword={password}\n"})
    secret = f"{ref.directory}/secret/mysql.cnf"
    mode = await env.sh(f"stat -c '%a %U' {secret}; stat -c %a {ref.directory}")
    assert mode.stdout.split() == ["600", "root", "700"]
    assert password in (await env.sh(f"cat {secret}")).stdout
    assert password not in (await env.sh("ps -eww -o args")).stdout
    await env.go(ref)
    final = await wait_job(env.host, ref, base_dir=env.base, poll=0.05, timeout=20)
    assert final.state is JobState.SUCCEEDED and final.output_tail == "1\n"
    assert (await env.sh(f"test -e {ref.directory}/secret", check=False)).returncode == 1

    failing = await env.start("exit 9\n", secret_files={"x": "y"})
    ended = await wait_job(env.host, failing, base_dir=env.base, poll=0.05, timeout=20)
    assert ended.exit_code == 9
    assert (await env.sh(f"test -e {failing.directory}/secret", check=False)).returncode == 1


async def test_a_running_job_is_not_removed(env: Env) -> None:
    ref = await env.start(WAIT_FOR_GO)
    with pytest.raises(RemoteError, match="still running"):
        await remove_job(env.host, ref, base_dir=env.base)
    await env.go(ref)
    await wait_job(env.host, ref, base_dir=env.base, poll=0.05, timeout=20)
    await remove_job(env.host, ref, base_dir=env.base)
    assert (await env.sh(f"test -e {ref.directory}", check=False)).returncode == 1


def test_refs_round_trip_and_bad_ones_are_refused() -> None:
    ref = JobRef("db2", "seed-db2", "/var/lib/moodle-wizard/jobs/seed-db2")
    assert JobRef.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref
    # An older wizard's job under /var/tmp, or any directory outside the base: refused.
    for foreign in ("/var/tmp/moodle-wizard/jobs/seed-db2", "/etc/seed-db2"):
        with pytest.raises(ForeignJobDirectory, match="not under /var/lib/moodle-wizard/jobs"):
            JobRef.from_dict({"host": "db2", "job_id": "seed-db2", "directory": foreign})
    for bad in ({"host": "db2", "job_id": "x", "directory": "/"},
                {"host": "db2", "job_id": "..", "directory": "/var/tmp/.."},
                {"host": "db2", "job_id": "x", "directory": "/etc/y"}):
        with pytest.raises(ValueError):
            JobRef.from_dict(bad)
    with pytest.raises(ValueError):
        job_dir("a b")
