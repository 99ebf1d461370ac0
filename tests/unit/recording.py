"""A recording stand-in for a Context's hosts and databases: what a step's actions run.

Every call is kept as the runbook line the command objects of moodle_wizard.core.command
render for it (masked with the context's secrets), so a test can hold what ran against what the
plan showed. Reads (SELECT/SHOW, a file read, a command known to change nothing) are kept
apart: a runbook shows what changes a host, not every look at it.
Answers come from small tables a test fills in: a file's bytes, a command's output, rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from moodle_wizard.core.command import Script, Secret, Shell, Sql, WriteFile
from moodle_wizard.core.context import Context
from moodle_wizard.core.remote import jobs
from moodle_wizard.core.remote.job_command import CancelJob, RemoveJob, start_line
from moodle_wizard.core.remote.ssh import Result, SshTarget
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import ServerVersion
from moodle_wizard.core.steps.replicas import seed_key

# Commands that only look (a runbook does not list them).
READ_ONLY = frozenset({"test", "cat", "ls", "pidof", "dpkg-query", "stat", "df", "du",
                       "sha256sum", "id", "readlink"})


def _reads_only(argv: Sequence[str]) -> bool:
    # `ip ... show` looks; `ip addr del` does not.
    return argv[0] in READ_ONLY or (argv[0] == "ip" and "show" in argv)


@dataclass(frozen=True)
class Ran:
    host: str
    line: str
    read: bool


Rows = list[dict[str, Any]]


@dataclass
class Answers:
    """What the fake hosts and databases answer: files by (host, path), a command's stdout by
    a substring of its line, rows by a substring of the SQL (first match wins)."""

    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    # A list of outputs answers successive runs (the last one from then on).
    stdout: list[tuple[str, str | list[str]]] = field(default_factory=list)
    rows: list[tuple[str, Rows]] = field(default_factory=list)
    # Substrings of commands that only look (a probe script the step's helpers run).
    reads: list[str] = field(default_factory=list)
    # A detached job's state by job id (a job started here, unless named: SUCCEEDED).
    jobs: dict[str, jobs.JobState] = field(default_factory=dict)

    def out(self, line: str) -> str:
        for key, text in self.stdout:
            if key in line:
                if isinstance(text, str):
                    return text
                return text.pop(0) if len(text) > 1 else text[0]
        return ""

    def sql(self, sql: str) -> Rows:
        return next((list(rows) for key, rows in self.rows if key in sql), [])


def _is_read_sql(sql: str) -> bool:
    return sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "SHOW")


class Recording:
    def __init__(self, ctx: Context, version: ServerVersion, answers: Answers,
                 versions: dict[str, ServerVersion] | None = None) -> None:
        self.ctx = ctx
        self.version = version
        # A host whose server runs another version than `version` (a newer replica).
        self.versions = versions or {}
        self.answers = answers
        self.ran: list[Ran] = []

    # How a ProxySQL admin statement on a proxy host shows (the step's runbook form).
    admin_line: Callable[[str, Statement], str] = staticmethod(
        lambda px, stmt: f"on {px} (proxysql admin): {stmt.display()}")

    def keep(self, host: str, line: str, read: bool) -> None:
        self.ran.append(Ran(host, self.ctx.secrets.mask(line), read))

    def changes(self) -> list[Ran]:
        return [r for r in self.ran if not r.read]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        hosts: dict[str, FakeHost] = {}
        dbs: dict[str, FakeDb] = {}

        async def host(name: str) -> FakeHost:
            return hosts.setdefault(name, FakeHost(self, name))

        async def db(name: str) -> FakeDb:
            return dbs.setdefault(name, FakeDb(self, name))

        async def forget(name: str) -> None:
            dbs.pop(name, None)

        admins: dict[str, FakeAdmin] = {}

        async def admin(name: str, user: str, password: str) -> FakeAdmin:
            return admins.setdefault(name, FakeAdmin(self, name))

        async def forget_admin(name: str) -> None:
            admins.pop(name, None)

        monkeypatch.setattr(self.ctx, "proxysql_admin", admin)
        monkeypatch.setattr(self.ctx, "forget_proxysql_admin", forget_admin)
        monkeypatch.setattr(self.ctx, "host", host)
        monkeypatch.setattr(self.ctx, "db", db)
        monkeypatch.setattr(self.ctx, "forget_db", forget)
        monkeypatch.setattr(self.ctx, "save", lambda: None)
        # No generated-secrets file here: a generated secret is its fake value (the same
        # distinctive value every time, as the real file keeps it).
        monkeypatch.setattr(self.ctx.secrets, "generated",
                            lambda name, make: self.ctx.secrets.get(name))
        monkeypatch.setattr(self.ctx.secrets, "generated_value",
                            lambda name: self.ctx.secrets.get(name))
        self.install_jobs(monkeypatch)
        self.install_seed_key(monkeypatch)

    def install_jobs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The detached-jobs layer (core/remote/jobs.py, tested on its own): each call kept as
        the command objects of remote/job_command.py render it, built from the call's own
        arguments (the script and secret files it was given)."""
        started: set[str] = set()

        async def start_job(host: FakeHost, job_id: str, script: str, *,
                            secret_files: dict[str, str] | None = None,
                            base_dir: str = jobs.DEFAULT_BASE_DIR) -> jobs.JobRef:
            directory = jobs.job_dir(job_id, base_dir)
            self.keep(host.name, start_line(host.name, job_id, script, secret_files or {}),
                      read=False)
            started.add(job_id)
            return jobs.JobRef(host.name, job_id, directory)

        async def job_status(host: FakeHost, ref: jobs.JobRef, wait_s: float = 0.0, *,
                             base_dir: str = jobs.DEFAULT_BASE_DIR) -> jobs.JobStatus:
            state = self.answers.jobs.get(
                ref.job_id, jobs.JobState.SUCCEEDED if ref.job_id in started else
                jobs.JobState.LOST)
            code = {jobs.JobState.SUCCEEDED: 0, jobs.JobState.FAILED: 1}.get(state)
            return jobs.JobStatus(state, code, None, None, "")

        async def cancel_job(host: FakeHost, ref: jobs.JobRef, *, grace: int = 10,
                             base_dir: str = jobs.DEFAULT_BASE_DIR) -> None:
            self.keep(host.name, CancelJob(host.name, ref.job_id, ref.directory).render(),
                      read=False)

        async def remove_job(host: FakeHost, ref: jobs.JobRef, *,
                             base_dir: str = jobs.DEFAULT_BASE_DIR) -> None:
            self.keep(host.name, RemoveJob(host.name, ref.job_id, ref.directory).render(),
                      read=False)

        monkeypatch.setattr(jobs, "start_job", start_job)
        monkeypatch.setattr(jobs, "job_status", job_status)
        monkeypatch.setattr(jobs, "cancel_job", cancel_job)
        monkeypatch.setattr(jobs, "remove_job", remove_job)


    # What the fake ssh-keygen prints: an ed25519 public key (32 zero bytes).
    SEED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

    def install_seed_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The seed key's ssh-keygen and authorized_keys edits (replicas/seed_key.py, tested
        on files of their own): kept as seed_key's command objects render them, built from the
        call's arguments (the very line added, the markers removed)."""

        async def generate(host: FakeHost, comment: str,
                           seed_dir: str = seed_key.seed.SEED_DIR) -> str:
            self.keep(host.name, seed_key.GenerateKey(host.name, comment, seed_dir).render(),
                      read=False)
            return self.SEED_KEY

        async def authorize(host: FakeHost, line: str, mark: str,
                            path: str = seed_key.AUTHORIZED_KEYS) -> None:
            self.keep(host.name, seed_key.Authorize(host.name, line, mark, path).render(),
                      read=False)

        async def unauthorize(host: FakeHost, markers: Sequence[str],
                              path: str = seed_key.AUTHORIZED_KEYS) -> None:
            self.keep(host.name, seed_key.Unauthorize(host.name, tuple(markers), path).render(),
                      read=False)

        monkeypatch.setattr(seed_key, "generate", generate)
        monkeypatch.setattr(seed_key, "authorize", authorize)
        monkeypatch.setattr(seed_key, "unauthorize", unauthorize)

class FakeHost:
    def __init__(self, rec: Recording, name: str) -> None:
        self.rec = rec
        self.name = name
        self.target = SshTarget(name, name)

    async def run(self, argv: Sequence[str], *, input: str | bytes | None = None,
                  check: bool = True, timeout: float | None = 600,
                  on_line: Callable[[str], None] | None = None,
                  display: str | None = None) -> Result:
        shown = Shell(self.name, tuple(argv),
                      stdin=Secret("stdin") if input is not None else None)
        line = shown.render()
        read = _reads_only(argv) or any(key in line for key in self.rec.answers.reads)
        self.rec.keep(self.name, line, read=read)
        return Result(0, self.rec.answers.out(line), "")

    async def script(self, script: str, *, check: bool = True,
                     timeout: float | None = 600) -> Result:
        line = Script(self.name, script).render()
        self.rec.keep(self.name, line, read=False)
        return Result(0, self.rec.answers.out(line), "")

    async def read_file(self, path: str) -> bytes | None:
        self.rec.keep(self.name, f"on {self.name}: cat -- {path}", read=True)
        return self.rec.answers.files.get((self.name, path))

    async def write_file(self, path: str, data: bytes, *, mode: int = 0o644,
                         atomic: bool = True) -> None:
        self.rec.keep(self.name, WriteFile(self.name, path, data, mode).render(), read=False)
        self.rec.answers.files[(self.name, path)] = data  # read back as written


class FakeDb:
    def __init__(self, rec: Recording, name: str) -> None:
        self.rec = rec
        self.host_name = name
        self.version = rec.versions.get(name, rec.version)
        self.dialect = Dialect(self.version)

    async def run(self, stmt: Statement) -> Rows:
        self.rec.keep(self.host_name, Sql(self.host_name, stmt).render(),
                      read=_is_read_sql(stmt.sql))
        return self.rec.answers.sql(stmt.sql)

    async def query(self, sql: str, args: Sequence[Any] | None = None) -> Rows:
        return await self.run(Statement(sql, tuple(args or ())))

    async def one(self, sql: str, args: Sequence[Any] | None = None) -> dict[str, Any]:
        rows = await self.query(sql, args)
        assert rows, f"the test gives no row for: {sql}"
        return rows[0]

    async def variable(self, name: str) -> Any:
        return (await self.one(f"SELECT @@GLOBAL.{name} AS v"))["v"]


class FakeAdmin:
    """ProxySQL's admin interface on a proxy host: keeps the global variables it is set."""

    _SET_VARIABLE = "UPDATE global_variables SET variable_value = %s WHERE variable_name = %s"

    def __init__(self, rec: Recording, name: str) -> None:
        self.rec = rec
        self.name = name
        self.values: dict[str, str] = {}

    async def run(self, stmt: Statement) -> Rows:
        if stmt.sql == self._SET_VARIABLE:
            value, name = stmt.params
            self.values[str(name)] = str(value)
        self.rec.keep(self.name, self.rec.admin_line(self.name, stmt),
                      read=_is_read_sql(stmt.sql))
        return []

    async def query(self, sql: str, params: Sequence[str | int] = ()) -> Rows:
        return await self.run(Statement(sql, tuple(params)))

    async def variables(self, names: Sequence[str]) -> dict[str, str]:
        return {n: self.values[n] for n in names if n in self.values}
