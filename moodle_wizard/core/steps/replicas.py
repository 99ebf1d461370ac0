"""Step 3: seed every replica from one backup stream and start GTID replication."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from functools import partial
from typing import Any

from moodle_wizard.core.events import Progress
from moodle_wizard.core.remote.jobs import (
    JobRef,
    JobState,
    cancel_job,
    job_dir,
    job_status,
    remove_job,
    start_job,
)
from moodle_wizard.core.render.mycnf import (
    DEFAULT_LOG_BIN,
    render_client_defaults,
    render_replica_cnf,
    server_cnf_path,
)
from moodle_wizard.core.sql.parsers import (
    BINLOG_INFO_FILENAMES,
    normalize_replica_status,
    parse_binlog_info,
)
from moodle_wizard.core.sql.quoting import quote_identifier
from moodle_wizard.core.state import RemoteJob, StepName
from moodle_wizard.core.steps import replica_datadir, seed, seed_key
from moodle_wizard.core.steps.base import (
    Action,
    Problem,
    Step,
    StepError,
    error,
    source_version,
    warning,
)
from moodle_wizard.core.steps.discover import replica_host_facts
from moodle_wizard.core.steps.prepare_source import HEARTBEAT_DB, HEARTBEAT_TABLE, service_name
from moodle_wizard.core.steps.replica_datadir import DATADIR, Datadir

SPACE_MARGIN = 1.15
LAG_TIMEOUT_S = 120.0


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def checksum_sql(dbname: str, tables: list[str]) -> str:
    """CHECKSUM TABLE for Moodle's tables; names come from config.php and the server, so they
    are quoted as identifiers (a backtick in one cannot end the name)."""
    db = quote_identifier(dbname)
    return "CHECKSUM TABLE " + ", ".join(f"{db}.{quote_identifier(t)}" for t in tables)


async def table_checksums(db: Any, dbname: str, tables: list[str]) -> dict[str, Any]:
    rows = await db.query(checksum_sql(dbname, tables))
    # The server answers `db.table` unquoted; the table is what follows the database's name.
    return {str(r["Table"])[len(dbname) + 1:]: r["Checksum"] for r in rows}


def major_minor(version: str) -> str:
    """'1:10.11.19-0+deb12u1' or '10.11.19-MariaDB' -> '10.11'."""
    match = re.search(r"(\d+)\.(\d+)\.\d+", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version


class Replicas(Step):
    name = StepName.REPLICAS
    title = "Seed the replicas"
    summary = ("Installs the server on each replica host if it is missing, streams one backup "
               "of the source to all of them at once (never through this machine, encrypted "
               "over SSH), prepares it, makes each replica read-only with its own server_id, "
               "and starts GTID replication from the source. Verified with a marker row and "
               "per-table checksums.")

    @property
    def method(self) -> str:
        return self.ctx.inventory.migration.backup_method.value

    def replica_facts(self, name: str) -> dict[str, Any]:
        facts: dict[str, Any] = self.ctx.facts(StepName.DISCOVER)["replicas"][name]
        return facts

    def server_ids(self) -> dict[str, int]:
        inv = self.ctx.inventory
        taken = {inv.hosts[inv.source].server_id or self.src["server_id"] or 1}
        taken |= {h.server_id for h in inv.hosts.values() if h.server_id}
        # The source's existing replicas keep their ids: two replicas with one server_id make
        # the source drop one connection for the other, over and over.
        taken |= {int(e["server_id"]) for e in self.src.get("existing_replicas", [])}
        ids, candidate = {}, max(taken) + 1
        for r in inv.replicas:
            given = inv.hosts[r].server_id
            if given:
                ids[r] = given
                continue
            while candidate in taken:
                candidate += 1
            ids[r] = candidate
            taken.add(candidate)
        return ids

    def databases(self) -> list[str]:
        return [str(self.ctx.facts(StepName.DISCOVER)["moodle"]["dbname"]), HEARTBEAT_DB]

    # -- preflight ---------------------------------------------------------------------

    @property
    def owner(self) -> str:
        """This migration's token in the datadirs it makes: its id and its state's birth, so a
        datadir left by an earlier migration of the same name is not taken for this one's."""
        state = self.ctx.state
        return f"{state.migration_id}@{state.created_at:%Y%m%dT%H%M%S%f}"

    async def datadir(self, r: str) -> Datadir:
        return await replica_datadir.inspect(await self.ctx.host(r),
                                             self.ctx.state.migration_id)

    async def preflight(self) -> list[Problem]:
        """Reads every replica host as it is now: discovery may be a week old, and someone may
        have installed a server or put data on a host since."""
        inv = self.ctx.inventory
        problems: list[Problem] = []
        need = int(self.src["data_bytes"] * SPACE_MARGIN)
        src_id = inv.hosts[inv.source].server_id or self.src["server_id"]
        want = major_minor(self.src["version"])
        for r, server_id in self.server_ids().items():
            f = await replica_host_facts(await self.ctx.host(r))
            if server_id == src_id:
                problems.append(error(
                    f"{r}: server_id {server_id} is the source's own server_id; give {r} "
                    "another server_id in the inventory (or leave it out to let the wizard "
                    "choose)"))
            for e in self.src.get("existing_replicas", []):
                if int(e["server_id"]) == server_id:
                    problems.append(error(
                        f"{r}: server_id {server_id} is already used by a replica of "
                        f"{inv.source} ({e['host'] or 'unnamed'}:{e['port']}); give {r} another "
                        "server_id in the inventory (or leave it out to let the wizard choose "
                        "a free one)"))
            if f["free_bytes"] < need:
                problems.append(error(
                    f"{r}: {human(f['free_bytes'])} free for {DATADIR}, but the copy of "
                    f"{inv.source} needs about {human(need)}; free space or grow the disk"))
            for pkg, version in f["packages"].items():
                if major_minor(version) != want:
                    problems.append(error(
                        f"{r}: {pkg} {version} is installed, but the source runs "
                        f"{self.src['flavor']} {self.src['version']}; a replica needs the same "
                        f"major version ({want}): remove it or use another host"))
            problems += self._datadir_problems(r, await self.datadir(r))
        self.ctx.secrets.get("replication_password")
        return problems

    def _datadir_problems(self, r: str, d: Datadir) -> list[Problem]:
        if d.empty or d.ours(self.owner):
            return []
        if not self.ctx.inventory.migration.replace_replica_datadir:
            return [error(
                f"{r}: {DATADIR} is not empty ({d.describe()}); the wizard will not overwrite "
                "it. Empty it, or set migration.replace_replica_datadir = true to have it moved"
                f" aside to {d.aside} (kept, not deleted)")]
        why = d.movable_problem(r)
        if why:
            return [error(why)]
        return [warning(f"{r}: {DATADIR} ({d.describe()}) will be moved aside to {d.aside} "
                        "(kept, not deleted; rollback moves it back)")]

    # -- plan --------------------------------------------------------------------------

    def plan(self) -> list[Action]:
        inv = self.ctx.inventory
        src = inv.source
        svc = service_name(self.src["flavor"])
        tools = self.dialect.backup_tools()
        mid = self.ctx.state.migration_id
        actions: list[Action] = []
        for r in inv.replicas:
            pkgs = self._packages()
            actions += [
                Action(f"install:{r}", f"Install {' '.join(pkgs)} on {r} if missing",
                       partial(self.install, r),
                       [f"on {r}: apt-get install -y --no-install-recommends {' '.join(pkgs)}"
                        " (only if missing)"], done=partial(self.installed, r), host=r),
                Action(f"stop:{r}", f"Stop any server on {r}", partial(self.stop, r),
                       [f"on {r}: check {DATADIR} again (refuse, before stopping anything, if "
                        "it holds data the inventory does not allow to replace); "
                        f"service {svc} stop"], host=r),
                Action(f"datadir:{r}", f"Make {r}'s {DATADIR} empty (move aside, never delete)",
                       partial(self.empty_datadir, r),
                       [f"on {r}: mv {DATADIR} {replica_datadir.aside_path(mid)} (only if it "
                        "holds data and is not this migration's own: kept, never deleted); "
                        f"install -d -o mysql -g mysql -m 0750 {DATADIR}; write "
                        f"{DATADIR}/{replica_datadir.MARKER_NAME} (this migration's marker: "
                        "only a datadir carrying it is ever emptied)"], host=r),
            ]
            if self.method == "logical":
                actions.append(Action(
                    f"init:{r}", f"Initialise an empty server on {r}",
                    partial(self.init_server, r),
                    [f"on {r}: mariadb-install-db --user=mysql --datadir={DATADIR}; "
                     f"service {svc} start"], host=r))
        recv_cmd = seed.receive_command(self.method, DATADIR, self.dialect.client_binary())
        actions.append(Action(
            "seed-key", "Create a temporary seed key on the source and allow it on each "
            "replica for one command", self.install_seed_key,
            seed_key.install_runbook(self.ctx, recv_cmd), host=src))
        backup = seed.backup_command(self.method, tools.backup, self.dump_argv(),
                                     self.databases(), None, "<job dir>")
        actions.append(Action(
            "stream", f"Stream one {self.method} backup of {src} to "
            f"{', '.join(inv.replicas)} (detached job on {src})", self.stream,
            [f"on {src} (detached job): {backup} | tee "
             + " ".join(f">(ssh -c {seed.CIPHER} root@{r})" for r in inv.replicas)],
            done=self.stream_succeeded, host=src))
        if self.method == "physical":
            # All prepares first: they run at once, one job per replica.
            actions += [Action(
                f"prepare:{r}", f"Prepare the backup on {r}", partial(self.prepare, r),
                [f"on {r} (detached job): {tools.backup} --prepare --target-dir={DATADIR}; "
                 f"chown -R mysql:mysql {DATADIR}"], host=r) for r in inv.replicas]
        for r, server_id in self.server_ids().items():
            cnf = render_replica_cnf(source_version(self.src), server_id,
                                     inv.hosts[r].address)
            actions += [
                Action(f"config:{r}", f"Configure {r} as a read-only replica (server_id "
                       f"{server_id})", partial(self.configure, r, cnf),
                       [f"on {r}: write {self.cnf_path()}:\n{self.replica_cnf(r, cnf)}"],
                       host=r),
                Action(f"start:{r}", f"Start the server on {r}", partial(self.start, r),
                       [f"on {r}: service {svc} restart"], host=r),
                Action(f"replicate:{r}", f"Point {r} at {src} by GTID and start replication",
                       partial(self.replicate, r),
                       [f"on {r}: {s.display()}" for s in self._replication_statements()],
                       done=partial(self.replicating, r), host=r),
            ]
        actions.append(Action("cleanup", "Remove the temporary seed key and job files",
                              self.cleanup_seed, seed_key.cleanup_runbook(self.ctx), host=src))
        return actions

    def dump_argv(self) -> tuple[str, ...]:
        dump = self.dialect.dump_tool()
        extra: tuple[str, ...] = ()
        if self.src["flavor"] == "mariadb":
            # The accounts too (Moodle's from the proxies, the monitor user), as CREATE USER
            # IF NOT EXISTS so the replica's own root and system accounts stay as they are.
            extra = ("--system=users", "--insert-ignore")
        return (dump.binary, *dump.options, *extra)

    def _packages(self) -> list[str]:
        if self.src["flavor"] == "mariadb":
            return ["mariadb-server", "mariadb-backup", "mariadb-client"]
        return ["mysql-server", "percona-xtrabackup-80"]

    def _replication_statements(self) -> list[Any]:
        d = self.dialect
        src = self.ctx.inventory.hosts[self.ctx.inventory.source]
        return [d.stop_replica(), *d.set_gtid_position("<gtid from the backup>"),
                d.change_source(src.address, self.src["port"],
                                self.ctx.inventory.migration.replication_user, "x"),
                d.start_replica()]

    def cnf_path(self) -> str:
        return server_cnf_path(source_version(self.src))

    def replica_cnf(self, r: str, cnf: str) -> str:
        # Debian's own 50-server.cnf binds to 127.0.0.1; ProxySQL must reach the replica.
        return cnf + f"bind-address = {self.ctx.inventory.hosts[r].address}\n"

    # -- per-replica actions ---------------------------------------------------------------

    async def missing_packages(self, r: str) -> list[str]:
        host = await self.ctx.host(r)
        out = await host.run(["sh", "-c", "dpkg-query -W -f '${Package} ${Status}\\n' "
                              + " ".join(self._packages()) + " 2>/dev/null || true"])
        present = {line.split()[0] for line in out.stdout.splitlines()
                   if line.endswith("ok installed")}
        return [p for p in self._packages() if p not in present]

    async def installed(self, r: str) -> bool:
        return not await self.missing_packages(r)

    async def install(self, r: str) -> None:
        missing = await self.missing_packages(r)
        if not missing:
            return
        # Recorded before apt-get runs (a crash or a failure half-way leaves some installed);
        # only what was missing: rollback removes nothing the operator had installed.
        recorded: dict[str, list[str]] = self.facts.setdefault("installed_packages", {})
        if r not in recorded:
            recorded[r] = missing
            self.ctx.save()
        host = await self.ctx.host(r)
        await host.run(["sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y "
                        "--no-install-recommends " + " ".join(missing) + " </dev/null"],
                       timeout=1800)

    async def stop(self, r: str) -> None:
        d = await self.datadir(r)
        # Looked at again here, before anything is stopped: the preflight may be from before a
        # crash, and a resumed step is not preflighted again.
        problems = [p for p in self._datadir_problems(r, d) if p.level == "error"]
        if problems:
            raise StepError(problems[0].message)
        if d.server_pids:
            stopped: list[str] = self.facts.setdefault("stopped_servers", [])
            if r not in stopped:
                # Rollback starts it again: the host is left running, as it was found.
                stopped.append(r)
                self.ctx.save()
        await self._stop_server(r)

    async def _stop_server(self, r: str) -> None:
        host = await self.ctx.host(r)
        await self.ctx.forget_db(r)
        await host.run(["service", service_name(self.src["flavor"]), "stop"], check=False)
        running = await host.run(["sh", "-c", "pidof mariadbd mysqld || true"])
        if running.stdout.strip():
            raise StepError(f"{r}: the database server is still running after `service stop` "
                            f"(pid {running.stdout.strip()}); stop it and resume")

    async def empty_datadir(self, r: str) -> None:
        host = await self.ctx.host(r)
        before: dict[str, list[str]] = self.facts.setdefault("binlogs_before", {})
        if r not in before:
            # The replica's server will write binary logs (log_slave_updates): rollback
            # removes them only if there were none of that name before.
            out = await host.run(["sh", "-c", f"ls -1 {DEFAULT_LOG_BIN}.* 2>/dev/null || true"])
            before[r] = sorted(line for line in out.stdout.splitlines() if line.strip())
            self.ctx.save()
        d = await self.datadir(r)
        moved: dict[str, str] = self.facts.setdefault("moved_datadirs", {})
        if d.ours(self.owner):
            # Ours, from an earlier attempt of this step: the host itself proves it.
            await replica_datadir.empty_ours(host, self.owner)
            return
        if not d.empty:
            problems = [p for p in self._datadir_problems(r, d) if p.level == "error"]
            if problems:
                raise StepError(problems[0].message)
            await host.run(["mv", "--no-target-directory", DATADIR, d.aside])
            d = await self.datadir(r)
            if d.exists or not d.aside_exists:
                raise StepError(f"{r}: moving {DATADIR} to {d.aside} did not happen as "
                                f"expected; check both directories by hand, then resume")
        if d.aside_exists and r not in moved:
            # Recorded once the move can be seen (also a move a crash kept from recording).
            moved[r] = d.aside
            self.ctx.save()
        if not d.exists and r not in moved:
            created: list[str] = self.facts.setdefault("created_datadirs", [])
            if r not in created:
                created.append(r)
                self.ctx.save()
        await replica_datadir.claim(host, self.owner)

    async def init_server(self, r: str) -> None:
        host = await self.ctx.host(r)
        await replica_datadir.empty_ours(host, self.owner)
        await host.run(["sh", "-c", f"mariadb-install-db --user=mysql --datadir={DATADIR} "
                        "--skip-test-db > /dev/null"])
        await host.run(["service", service_name(self.src["flavor"]), "start"], timeout=300)

    async def install_seed_key(self) -> None:
        command = seed.receive_command(self.method, DATADIR, self.dialect.client_binary())
        await seed_key.install(self.ctx, self.facts, command)

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
        status = await job_status(await self.ctx.host(self.ctx.inventory.source), ref)
        return status.state == JobState.SUCCEEDED

    async def stream(self) -> None:
        inv = self.ctx.inventory
        source = await self.ctx.host(inv.source)
        ref = self._job_ref()
        if ref is None:
            job_id = f"seed-{secrets.token_hex(4)}"
            # Recorded before it starts: after a crash anywhere from here on, the wizard finds
            # this id and reattaches (start_job never starts the same id twice).
            self.ctx.state.step(self.name).remote_jobs.append(RemoteJob(
                host=inv.source, job_id=job_id, paths={"directory": job_dir(job_id)}))
            self.ctx.save()
            ref = JobRef(inv.source, job_id, job_dir(job_id))
        secret_files: dict[str, str] = {}
        defaults = None
        if inv.migration.db_admin_user:
            secret_files["client.cnf"] = render_client_defaults(
                inv.migration.db_admin_user, self.ctx.secrets.get("db_admin_password"))
            defaults = "$MW_JOB_DIR/secret/client.cnf"
        receivers = [seed.Receiver(r, inv.hosts[r].address, inv.hosts[r].ssh_port)
                     for r in inv.replicas]
        backup = seed.backup_command(self.method, self.dialect.backup_tools().backup,
                                     self.dump_argv(), self.databases(), defaults,
                                     seed.SEED_DIR)
        script = seed.sender_script(self.method, backup, receivers, seed.SEED_DIR)
        # Starts it if it never started (the crash came first); otherwise a no-op.
        await start_job(source, ref.job_id, script, secret_files=secret_files)
        await self._watch(source, ref)

    async def _watch(self, source: Any, ref: JobRef) -> None:
        total = int(self.src["data_bytes"])
        while True:
            # Each poll is one audited command on the source, which answers within a second,
            # or as soon as the stream ends.
            status = await job_status(source, ref, wait_s=1.0)
            if status.progress_bytes is not None:
                self.ctx.emit(Progress(self.name, "seed stream", status.progress_bytes, total))
            if status.state == JobState.SUCCEEDED:
                self.ctx.emit(Progress(self.name, "seed stream", max(
                    status.progress_bytes or 0, total), total))
                return
            if status.state == JobState.FAILED and status.exit_code == 12:
                exits = dict(re.findall(r"receiver (\S+) exit (\d+)", status.output_tail))
                lost = [r for r, rc in exits.items() if rc == "255"]  # ssh: connection lost
                broken = lost or [r for r, rc in exits.items() if rc != "0"]
                who = ", ".join(broken) if broken else "a replica"
                raise StepError(f"the seed stream from {self.ctx.inventory.source} to {who} "
                                f"broke: {who} stopped receiving (host or network down?): "
                                f"{status.output_tail[-300:].strip()}; check that {who} is "
                                "reachable from the source, then roll back this step "
                                "(moodle-wizard rollback --to replicas) and run it again")
            if status.state in (JobState.FAILED, JobState.LOST):
                raise StepError(f"the seed stream from {self.ctx.inventory.source} failed "
                                f"(exit {status.exit_code}): {status.output_tail[-600:]}; roll "
                                "back this step (moodle-wizard rollback --to replicas) and "
                                "run it again")

    async def prepare(self, r: str) -> None:
        # The first prepare action starts every replica's (each a job on its own host, which
        # never starts twice): two replicas then take the time of one. Each waits for its own.
        tools = self.dialect.backup_tools()
        script = (f"{tools.backup} --prepare --target-dir={DATADIR} && "
                  f"chown -R mysql:mysql {DATADIR}")
        host = await self.ctx.host(r)
        ref = JobRef(r, f"prepare-{r}", job_dir(f"prepare-{r}"))
        prepared = self.facts.get("prepared", [])
        if r in prepared:  # done before a crash, job removed or not
            await remove_job(host, ref)
            return
        for other in self.ctx.inventory.replicas:
            if other not in prepared:
                await start_job(await self.ctx.host(other), f"prepare-{other}", script)
        while True:
            status = await job_status(host, ref, wait_s=1.0)
            if status.state == JobState.SUCCEEDED:
                break
            if status.state in (JobState.FAILED, JobState.LOST):
                raise StepError(f"{r}: preparing the backup failed: "
                                f"{status.output_tail[-600:]}; roll back this step and retry")
        self.facts.setdefault("prepared", []).append(r)
        self.ctx.save()
        await remove_job(host, ref)

    async def configure(self, r: str, cnf: str) -> None:
        host = await self.ctx.host(r)
        self.facts.setdefault("configured", [])
        if r not in self.facts["configured"]:
            self.facts["configured"].append(r)
            self.ctx.save()
        await host.write_file(self.cnf_path(), self.replica_cnf(r, cnf).encode(), mode=0o644)

    async def start(self, r: str) -> None:
        host = await self.ctx.host(r)
        await self.ctx.forget_db(r)
        # The replica keeps a binary log (to be promotable); a fresh host may lack its dir.
        await host.run(["install", "-d", "-o", "mysql", "-g", "mysql", "/var/log/mysql"])
        await host.run(["service", service_name(self.src["flavor"]), "restart"], timeout=600)

    async def gtid_position(self, r: str) -> str:
        host = await self.ctx.host(r)
        if self.method == "physical":
            for name in BINLOG_INFO_FILENAMES:
                data = await host.read_file(f"{DATADIR}/{name}")
                if data is not None:
                    info = parse_binlog_info(data.decode())
                    if not info.gtid:
                        raise StepError(f"{r}: {name} has no GTID position")
                    return info.gtid
            names = " or ".join(BINLOG_INFO_FILENAMES)
            raise StepError(f"{r}: the backup has no binlog info file ({names})")
        source = await self.ctx.host(self.ctx.inventory.source)
        line = (await source.run(["cat", f"{seed.SEED_DIR}/gtid.txt"])).stdout
        match = re.search(r"gtid_slave_pos\s*=\s*'([^']*)'", line)
        if not match:
            raise StepError(f"the dump from {self.ctx.inventory.source} has no GTID position "
                            f"({line.strip()[:200]!r})")
        if "gtid" not in self.facts:
            self.facts["gtid"] = match.group(1)
        return match.group(1)

    async def replicate(self, r: str) -> None:
        db = await self.ctx.db(r)
        d = db.dialect
        src = self.ctx.inventory.hosts[self.ctx.inventory.source]
        gtid = await self.gtid_position(r)
        await db.run(d.stop_replica())
        for stmt in d.set_gtid_position(gtid):
            await db.run(stmt)
        await db.run(d.change_source(src.address, self.src["port"],
                                     self.ctx.inventory.migration.replication_user,
                                     self.ctx.secrets.get("replication_password")))
        await db.run(d.start_replica())

    async def replicating(self, r: str) -> bool:
        try:
            db = await self.ctx.db(r)
            rows = await db.run(db.dialect.show_replica_status())
        except Exception:
            return False
        status = normalize_replica_status(rows[0] if rows else None)
        return status is not None and status.healthy

    async def cleanup_seed(self) -> None:
        jobs = [JobRef(job.host, job.job_id, job.paths["directory"])
                for job in self.ctx.state.step(self.name).remote_jobs]
        await seed_key.cleanup(self.ctx, self.facts, jobs)

    async def _remove_seed_key(self, host: Any) -> None:
        await seed_key.unauthorize(host, seed_key.migration_markers(self.ctx, self.facts))

    # -- verify ------------------------------------------------------------------------

    async def verify(self) -> None:
        inv = self.ctx.inventory
        deadline = time.monotonic() + LAG_TIMEOUT_S
        for r in inv.replicas:
            while True:
                db = await self.ctx.db(r)
                rows = await db.run(db.dialect.show_replica_status())
                status = normalize_replica_status(rows[0] if rows else None)
                if status is None:
                    raise StepError(f"{r}: not configured as a replica")
                if status.errors:
                    raise StepError(f"{r}: replication error: {'; '.join(status.errors)}")
                if status.healthy and status.seconds_behind == 0:
                    break
                if time.monotonic() > deadline:
                    raise StepError(f"{r}: replication not caught up after {LAG_TIMEOUT_S:.0f}"
                                    f" s (io={status.io_running} sql={status.sql_running} "
                                    f"lag={status.seconds_behind})")
                await asyncio.sleep(0.5)
        await self._verify_marker()
        await self._verify_checksums()

    async def _verify_marker(self) -> None:
        inv = self.ctx.inventory
        token = secrets.token_hex(8)
        source = await self.ctx.db(inv.source)
        await source.query(f"INSERT INTO `{HEARTBEAT_DB}`.`{HEARTBEAT_TABLE}` (token) "
                           "VALUES (%s)", (token,))
        for r in inv.replicas:
            db = await self.ctx.db(r)
            deadline = time.monotonic() + 30
            while not await db.query(f"SELECT 1 FROM `{HEARTBEAT_DB}`.`{HEARTBEAT_TABLE}` "
                                     "WHERE token = %s", (token,)):
                if time.monotonic() > deadline:
                    raise StepError(f"{r}: a marker row written on {inv.source} did not "
                                    "arrive within 30 s")
                await asyncio.sleep(0.2)

    async def _verify_checksums(self) -> None:
        inv = self.ctx.inventory
        dbname = self.databases()[0]
        source = await self.ctx.db(inv.source)
        tables = [str(r["t"]) for r in await source.query(
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY table_name", (dbname,))]
        for attempt in range(3):
            # Moodle may be writing: catch every replica up to one source position, then
            # compare; a table that changed in between is compared again.
            pos = await self._source_position()
            want = await self._checksums(source, dbname, tables)
            mismatched = []
            for r in inv.replicas:
                db = await self.ctx.db(r)
                await self._wait_for_position(db, pos)
                got = await self._checksums(db, dbname, tables)
                mismatched += [f"{r}:{t}" for t in tables if got.get(t) != want.get(t)]
            if not mismatched:
                self.facts["checksummed_tables"] = len(tables)
                self.ctx.save()
                return
            if attempt == 2:
                # Tables Moodle keeps writing never match at a moving position: compare each
                # at one exact position instead (the replicas stopped right there).
                still = await self._checksums_at_one_position(
                    source, dbname, sorted({m.split(":", 1)[1] for m in mismatched}))
                if still:
                    raise StepError("table checksums differ between the source and replicas: "
                                    + ", ".join(still[:10]))
                self.facts["checksummed_tables"] = len(tables)
                self.ctx.save()

    async def _checksums_at_one_position(self, source: Any, dbname: str,
                                         tables: list[str]) -> list[str]:
        """Per table: its checksum on the source between two equal readings of the source's
        GTID position P (nothing was written meanwhile), and on each replica with its SQL
        thread stopped exactly at P (START SLAVE UNTIL), so writes going on at the same time
        cannot make equal tables look different. MariaDB only; mismatches as 'host:table'."""
        inv = self.ctx.inventory
        if not source.version.is_mariadb:
            return [f"{r}:{t}" for r in inv.replicas for t in tables]
        mismatched = []
        replicas = {r: await self.ctx.db(r) for r in inv.replicas}
        for table in tables:
            # Stopped first, the replicas are behind whatever position the source has next.
            for db in replicas.values():
                await db.query("STOP SLAVE")
            try:
                deadline = time.monotonic() + 60
                while True:
                    before = await self._source_position()
                    want = (await self._checksums(source, dbname, [table])).get(table)
                    pos = await self._source_position()
                    if before == pos:
                        break
                    if time.monotonic() > deadline:
                        raise StepError(f"{inv.source}: {dbname}.{table} was written to during "
                                        "every checksum for 60 s; run the verification again "
                                        "when Moodle is quieter (`resume`)")
                    await asyncio.sleep(0.05)
                for r, db in replicas.items():
                    await db.query("START SLAVE UNTIL master_gtid_pos = %s", (pos,))
                    stop_at = time.monotonic() + 60
                    while (await db.one("SHOW SLAVE STATUS"))["Slave_SQL_Running"] == "Yes":
                        if time.monotonic() > stop_at:
                            raise StepError(f"{r}: replication did not reach the source's "
                                            f"position {pos} in 60 s")
                        await asyncio.sleep(0.05)
                    got = (await self._checksums(db, dbname, [table])).get(table)
                    if got != want:
                        mismatched.append(f"{r}:{table}")
            finally:
                for db in replicas.values():
                    await db.query("STOP SLAVE")
                    await db.query("START SLAVE")
        return mismatched

    async def _source_position(self) -> str:
        db = await self.ctx.db(self.ctx.inventory.source)
        if db.version.is_mariadb:
            return str((await db.one("SELECT @@gtid_binlog_pos AS p"))["p"])
        return str((await db.one("SELECT @@gtid_executed AS p"))["p"])

    async def _wait_for_position(self, db: Any, pos: str) -> None:
        if db.version.is_mariadb:
            row = await db.one("SELECT MASTER_GTID_WAIT(%s, 60) AS r", (pos,))
        else:
            row = await db.one("SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, 60) AS r", (pos,))
        if int(row["r"]) != 0:
            raise StepError(f"{db.host_name}: did not reach the source's position {pos} in 60 s")

    async def _checksums(self, db: Any, dbname: str, tables: list[str]) -> dict[str, Any]:
        return await table_checksums(db, dbname, tables)

    # -- rollback ----------------------------------------------------------------------

    def _touched(self, r: str) -> dict[str, str]:
        """What rollback has to undo on `r`, each with why, from the journal and the facts
        apply recorded; empty for a host the wizard changed nothing on."""
        undo: dict[str, str] = {}
        if self.journaled(f"init:{r}", f"start:{r}", f"replicate:{r}"):
            undo["server"] = "the wizard started a replica server on it"
        if self.journaled(f"datadir:{r}", f"config:{r}"):
            undo["datadir"] = "the wizard replaced its datadir or config"
        if r in self.facts.get("stopped_servers", []):
            undo["restart"] = "the wizard stopped the server that was running there"
        if r in dict(self.facts.get("installed_packages", {})):
            undo["packages"] = "the wizard installed the server packages"
        return undo

    def rollback_notes(self) -> list[str]:
        inv = self.ctx.inventory
        notes = [f"{r}: {why}" for r in inv.replicas for why in self._touched(r).values()]
        notes += [f"{r}: not touched (no action of this migration ran there); left as it is"
                  for r in inv.replicas if not self._touched(r)]
        return notes

    def rollback_plan(self) -> list[Action]:
        inv = self.ctx.inventory
        svc = service_name(self.src["flavor"])
        actions = []
        for r in inv.replicas:
            undo = self._touched(r)
            if "server" in undo:
                actions += [
                    Action(f"unreplicate:{r}", f"Stop and reset replication on {r}",
                           partial(self.unreplicate, r),
                           [f"on {r}: {self.dialect.stop_replica().display()}; "
                            f"{self.dialect.reset_replica_all().display()} (if the server "
                            "runs on this migration's datadir)"], host=r),
                    Action(f"stop:{r}", f"Stop the replica server on {r}",
                           partial(self.stop_ours, r),
                           [f"on {r}: service {svc} stop (only if {DATADIR} carries this "
                            "migration's marker)"], host=r),
                ]
            if "datadir" in undo or "restart" in undo:
                actions.append(Action(
                    f"restore:{r}", f"Restore {r}'s datadir and config",
                    partial(self.restore_replica, r),
                    [f"on {r}: rm -f {self.cnf_path()} (if the wizard wrote it); empty "
                     f"{DATADIR} only if it carries this migration's marker; mv "
                     f"{replica_datadir.aside_path(self.ctx.state.migration_id)} {DATADIR} "
                     "(if the wizard moved it there); service start (if the wizard stopped "
                     "a running server)"], host=r))
        if self.journaled("seed-key", "stream"):
            actions.append(Action("seed-key", "Remove the temporary seed key and job files",
                                  self.cleanup_seed, seed_key.cleanup_runbook(self.ctx),
                                  host=inv.source))
        for r, pkgs in dict(self.facts.get("installed_packages", {})).items():
            actions.append(Action(f"uninstall:{r}", f"Remove the packages the wizard installed "
                                  f"on {r}", partial(self.uninstall, r, pkgs),
                                  [f"on {r}: apt-get remove -y {' '.join(pkgs)}"], host=r))
        return actions

    async def unreplicate(self, r: str) -> None:
        host = await self.ctx.host(r)
        d = await replica_datadir.inspect(host, self.ctx.state.migration_id)
        if not d.server_pids or not d.ours(self.owner):
            return
        try:
            db = await self.ctx.db(r)
        except Exception:
            return
        await db.run(db.dialect.stop_replica())
        await db.run(db.dialect.reset_replica_all())
        await self.ctx.forget_db(r)

    async def stop_ours(self, r: str) -> None:
        """Stops the server only if it runs on this migration's datadir: the operator's own
        server (one the wizard never replaced) keeps running."""
        d = await self.datadir(r)
        if d.server_pids and d.ours(self.owner):
            await self._stop_server(r)

    async def restore_replica(self, r: str) -> None:
        host = await self.ctx.host(r)
        # A prepare started for it by another replica's action may still be writing there.
        prepare = JobRef(r, f"prepare-{r}", job_dir(f"prepare-{r}"))
        await cancel_job(host, prepare)
        await remove_job(host, prepare)
        if self.journaled(f"config:{r}"):
            await host.run(["rm", "-f", self.cnf_path()])
        d = await self.datadir(r)
        if d.ours(self.owner):
            await replica_datadir.empty_ours(host, self.owner, keep_marker=False)
            d = await self.datadir(r)
        if (self.journaled(f"start:{r}", f"init:{r}")
                and dict(self.facts.get("binlogs_before", {})).get(r) == []):
            await host.run(["sh", "-c", f"rm -f -- {DEFAULT_LOG_BIN}.*"])
        if d.aside_exists:
            # The operator's datadir, moved by this migration (found by its name even if a
            # crash kept the move from being recorded).
            if not d.empty:
                raise StepError(
                    f"{r}: {DATADIR} holds data this migration cannot prove is its own "
                    f"({d.describe()}), and the original datadir is at {d.aside}; the wizard "
                    "overwrites neither. Move one of them away by hand, then roll back again")
            if d.exists:
                await host.run(["rmdir", DATADIR])
            await host.run(["mv", "--no-target-directory", d.aside, DATADIR])
        elif d.exists and d.empty and r in self.facts.get("created_datadirs", []):
            await host.run(["rmdir", DATADIR])
        if r in self.facts.get("stopped_servers", []):
            await host.run(["service", service_name(self.src["flavor"]), "start"], timeout=300)

    async def uninstall(self, r: str, pkgs: list[str]) -> None:
        host = await self.ctx.host(r)
        await host.run(["sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get remove -y "
                        + " ".join(pkgs) + " </dev/null"], timeout=1800)
