"""Seeding of the replicas step: the temporary seed key (`seed_key`), one backup stream from
the source to every replica as a detached job on the source (`seed`), and the physical
backup's prepare on each replica. The job ids are in the state before the jobs start, so a
wizard that crashed reattaches instead of starting them again.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Collection
from typing import Any

from moodle_wizard.core.command import Command, Secret, placeholder
from moodle_wizard.core.events import Progress
from moodle_wizard.core.progress import RateWindow
from moodle_wizard.core.remote import jobs
from moodle_wizard.core.remote.job_command import RemoveJob, SecretFile, StartJob
from moodle_wizard.core.remote.jobs import JobRef, JobState, job_dir
from moodle_wizard.core.render.mycnf import render_client_defaults
from moodle_wizard.core.state import RemoteJob
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import existing, seed, seed_key
from moodle_wizard.core.steps.replicas.common import ReplicasBase
from moodle_wizard.core.steps.replicas.datadir import DATADIR


class Seeding(ReplicasBase):
    def dump_argv(self) -> tuple[str, ...]:
        dump = self.dialect.dump_tool()
        extra: tuple[str, ...] = ()
        if self.src.flavor == "mariadb":
            # The accounts too (Moodle's from the proxies, the monitor user), as CREATE USER
            # IF NOT EXISTS so the replica's own root and system accounts stay as they are.
            extra = ("--system=users", "--insert-ignore")
        return (dump.binary, *dump.options, *extra)

    def receive_command(self) -> str:
        """The forced command on each replica: what happens to the bytes that arrive."""
        client, extract = self.dialect.client_binary(), self.dialect.backup_tools().extract
        if self.method == "existing":
            return existing.receive_command(self.backup, DATADIR, client, extract)
        return seed.receive_command(self.method, DATADIR, client, extract)

    async def install_seed_key(self) -> None:
        await seed_key.install(self.ctx, self.facts, self.receive_command(), self.sender)

    def _job_ref(self) -> JobRef | None:
        for job in self.ctx.state.step(self.name).remote_jobs:
            if job.job_id.startswith("seed-"):
                return JobRef(host=job.host, job_id=job.job_id,
                              directory=job.paths["directory"])
        return None

    async def stream_succeeded(self) -> bool:
        ref = self._job_ref()
        if ref is None:
            return False
        status = await jobs.job_status(await self.ctx.host(self.sender), ref)
        return status.state == JobState.SUCCEEDED

    def stream_command(self, job_id: str = "seed-" + placeholder("job id")) -> StartJob:
        """The seed job on the source (the plan's, before the id is drawn, with a placeholder
        for it); the admin's client file with its password is a secret file of the job."""
        inv = self.ctx.inventory
        secret_files: tuple[SecretFile, ...] = ()
        defaults = None
        user = inv.migration.db_admin_user
        if user:
            secret_files = (SecretFile("client.cnf", Secret("db_admin_password"),
                                       lambda password: render_client_defaults(user, password)),)
            defaults = "$MW_JOB_DIR/secret/client.cnf"
        receivers = [seed.Receiver(r, inv.hosts[r].address, self.ctx.target(r).port)
                     for r in inv.replicas]
        if self.method == "existing":
            # The backup as it lies: no login to the source, no secret file.
            secret_files, backup = (), existing.read_command(self.backup)
        else:
            backup = seed.backup_command(self.method, self.dialect.backup_tools().backup,
                                         self.dump_argv(), self.databases(), defaults,
                                         seed.SEED_DIR)
        limit = inv.migration.stream_limit_bytes
        script = seed.sender_script(self.seed_method, backup, receivers, seed.SEED_DIR,
                                    limit=limit)
        return StartJob(self.sender, job_id, script, secret_files,
                        note="one backup read, sent over SSH to every replica at once"
                        + (f", at most {inv.migration.stream_limit}" if limit else ""))

    def planned_stream(self) -> StartJob:
        ref = self._job_ref()
        return self.stream_command() if ref is None else self.stream_command(ref.job_id)

    async def stream(self) -> None:
        source = await self.ctx.host(self.sender)
        ref = self._job_ref()
        if ref is None:
            job_id = f"seed-{secrets.token_hex(4)}"
            # Recorded before it starts: after a crash anywhere from here on, the wizard finds
            # this id and reattaches (start_job never starts the same id twice).
            self.ctx.state.step(self.name).remote_jobs.append(RemoteJob(
                host=self.sender, job_id=job_id, paths={"directory": job_dir(job_id)}))
            self.ctx.save()
            ref = JobRef(self.sender, job_id, job_dir(job_id))
        # Starts it if it never started (the crash came first); otherwise a no-op.
        await self.stream_command(ref.job_id).run(self.ctx)
        await self._watch(source, ref)

    async def _watch(self, source: Any, ref: JobRef) -> None:
        total = int(self.src.data_bytes)
        limit = self.ctx.inventory.migration.stream_limit_bytes
        window = RateWindow()
        while True:
            # Each poll is one audited command on the source, which answers within a second,
            # or as soon as the stream ends.
            status = await jobs.job_status(source, ref, wait_s=1.0)
            if status.progress_bytes is not None:
                rate = window.add(time.monotonic(), status.progress_bytes)
                self.ctx.emit(Progress(self.name, "seed stream", status.progress_bytes, total,
                                       rate, limit))
            if status.state == JobState.SUCCEEDED:
                self.ctx.emit(Progress(self.name, "seed stream", max(
                    status.progress_bytes or 0, total), total, window.rate, limit))
                return
            if status.state == JobState.FAILED and status.exit_code == 12:
                exits = dict(re.findall(r"receiver (\S+) exit (\d+)", status.output_tail))
                lost = [r for r, rc in exits.items() if rc == "255"]  # ssh: connection lost
                broken = lost or [r for r, rc in exits.items() if rc != "0"]
                who = ", ".join(broken) if broken else "a replica"
                raise StepError(f"the seed stream from {self.sender} to {who} "
                                f"broke: {who} stopped receiving (host or network down?): "
                                f"{status.output_tail[-300:].strip()}; check that {who} is "
                                "reachable from the source, then roll back this step "
                                "(moodle-wizard rollback --to replicas) and run it again")
            if status.state in (JobState.FAILED, JobState.LOST):
                raise StepError(f"the seed stream from {self.sender} failed "
                                f"(exit {status.exit_code}): {status.output_tail[-600:]}; roll "
                                "back this step (moodle-wizard rollback --to replicas) and "
                                "run it again")

    def prepare_commands(self, r: str, prepared: Collection[str] = ()) -> list[Command]:
        """The prepare action of `r`: the first one starts every replica's prepare not done
        yet (each a job on its own host, never started twice), so two replicas take the time
        of one; each action waits for its own job, then removes it."""
        tools = self.dialect.backup_tools()
        script = (f"{tools.backup} --prepare --target-dir={DATADIR} && "
                  f"chown -R mysql:mysql {DATADIR}")
        starts: list[Command] = [
            StartJob(other, f"prepare-{other}", script,
                     note="every replica's at once: a job already started is not started again")
            for other in self.ctx.inventory.replicas if other not in prepared]
        return [*starts, RemoveJob(r, f"prepare-{r}", note="once it has succeeded")]

    async def prepare(self, r: str) -> None:
        host = await self.ctx.host(r)
        ref = JobRef(r, f"prepare-{r}", job_dir(f"prepare-{r}"))
        prepared = self.facts.prepared
        *starts, remove = self.prepare_commands(r, prepared)
        if r in prepared:  # done before a crash, job removed or not
            await remove.run(self.ctx)
            return
        for start in starts:
            await start.run(self.ctx)
        while True:
            status = await jobs.job_status(host, ref, wait_s=1.0)
            if status.state == JobState.SUCCEEDED:
                break
            if status.state in (JobState.FAILED, JobState.LOST):
                raise StepError(f"{r}: preparing the backup failed: "
                                f"{status.output_tail[-600:]}; roll back this step and retry")
        self.facts.prepared.append(r)
        self.ctx.save()
        await remove.run(self.ctx)

    def seed_jobs(self) -> list[JobRef]:
        return [JobRef(job.host, job.job_id, job.paths["directory"])
                for job in self.ctx.state.step(self.name).remote_jobs]

    def cleanup_runbook(self, *, planned: bool = False) -> list[str]:
        """`planned`: apply's plan, where the seed job may not have its id yet (a rollback's
        shows the jobs the state file recorded, or none)."""
        jobs = self.seed_jobs()
        return seed_key.cleanup_runbook(self.ctx, self.facts,
                                        jobs or ([seed_key.PLANNED_JOB] if planned else []),
                                        self.sender)

    async def cleanup_seed(self) -> None:
        await seed_key.cleanup(self.ctx, self.facts, self.seed_jobs(), self.sender)
