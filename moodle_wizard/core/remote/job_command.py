"""Detached jobs (`jobs`) as commands (core/command.py): starting one, cancelling it, removing
its directory. The runbook shows a job's start as it runs: the script itself (its `#!` line as
the job gets it), where its output goes, and its secret files (their secrets masked); apply
runs the same object, so the plan cannot show one script and start another.

Each command calls the `jobs` module's function when it runs (looked up then, so a test's
recording stand-in of the jobs layer sees the call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moodle_wizard.core.command import NOTE_MARK, Secret
from moodle_wizard.core.remote import jobs
from moodle_wizard.core.sql.quoting import MASK

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["CancelJob", "RemoveJob", "SecretFile", "StartJob", "directory_of", "start_line"]


def directory_of(job_id: str) -> str:
    """The job's directory, as a runbook shows it (a planned id may hold a placeholder, which
    `jobs.job_dir` refuses: it checks the id when the job is started)."""
    return f"{jobs.DEFAULT_BASE_DIR}/{job_id}"


def _note(note: str) -> str:
    return f"{NOTE_MARK}{note}" if note else ""


def start_line(host: str, job_id: str, script: str, secret_files: Mapping[str, str],
               note: str = "") -> str:
    """How the start of job `job_id` shows: the secret files it gets (as given: masked for a
    runbook) and the script it runs."""
    d = directory_of(job_id)
    files = "".join(f"\nwith {d}/secret/{name} (mode 0600, removed when the job ends):\n"
                    f"{content.rstrip()}" for name, content in secret_files.items())
    return (f"on {host}: start job {job_id} detached (setsid, stdin /dev/null; in {d}, its "
            f"output to {d}/output, its exit status to {d}/exit_code; started only once)"
            f"{_note(note)}{files}\n{jobs.job_script(script).rstrip()}")


@dataclass(frozen=True)
class SecretFile:
    """A file in the job's secret/ directory: `make` builds its content from the secret's
    value (MASK for the runbook)."""

    name: str
    secret: Secret
    make: Callable[[str], str]


@dataclass(frozen=True)
class StartJob:
    """Start `script` detached on `host` as job `job_id`; a job already started under that id
    (running or ended) is not started again. Returns its JobRef."""

    host: str
    job_id: str
    script: str
    secret_files: tuple[SecretFile, ...] = ()
    note: str = ""

    def render(self) -> str:
        return start_line(self.host, self.job_id, self.script,
                          {f.name: f.make(MASK) for f in self.secret_files}, self.note)

    async def run(self, ctx: Context) -> jobs.JobRef:
        if any(value in self.script for value in ctx.secrets.values()):
            raise ValueError("a secret in a job's script (a bug: scripts are shown and logged; "
                             "a secret goes in a secret file): " + ctx.secrets.mask(self.render()))
        files = {f.name: f.make(await f.secret.value(ctx)) for f in self.secret_files}
        return await jobs.start_job(await ctx.host(self.host), self.job_id, self.script,
                                    secret_files=files)


@dataclass(frozen=True)
class _ExistingJob:
    """A job already started: `directory` is the one the state file recorded (a job of an
    older wizard is refused, not acted on); empty, the job's own under the wizard's base."""

    host: str
    job_id: str
    directory: str = ""
    note: str = ""

    def shown_directory(self) -> str:
        return self.directory or directory_of(self.job_id)

    def ref(self) -> jobs.JobRef:
        return jobs.JobRef(self.host, self.job_id, self.directory or jobs.job_dir(self.job_id))


@dataclass(frozen=True)
class CancelJob(_ExistingJob):
    """Stop the job if it runs (TERM to its process group, KILL after the grace time) and
    remove its secret files."""

    def render(self) -> str:
        d = self.shown_directory()
        return (f"on {self.host}: cancel job {self.job_id} ({d}): TERM to its process group "
                f"if it runs, KILL after 10 s; rm -rf {d}/secret{_note(self.note)}")

    async def run(self, ctx: Context) -> None:
        await jobs.cancel_job(await ctx.host(self.host), self.ref())


@dataclass(frozen=True)
class RemoveJob(_ExistingJob):
    """Remove the job's directory (refused while it runs: cancel it first)."""

    def render(self) -> str:
        return (f"on {self.host}: rm -rf -- {self.shown_directory()} (job {self.job_id}'s "
                f"directory; refused while the job runs){_note(self.note)}")

    async def run(self, ctx: Context) -> None:
        await jobs.remove_job(await ctx.host(self.host), self.ref())
