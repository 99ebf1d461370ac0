"""Commands that both run and render: the runbook is written from what runs.

An action builds its commands once, as values: a shell command on a host (`Shell`, or a
multi-line `Script` on stdin), an SQL statement on a host's database server (`Sql`), a file
written on a host (`WriteFile`). The
same objects are rendered for the plan (`render()`: the runbook line, secrets masked) and
executed by apply (`run(ctx)`), as pyinfra's operations and Ansible's check mode do, so the
plan cannot say one thing while apply does another.

Secrets never sit in a planned command. A command whose text needs one is `WithSecret`: a
function builds the command from the secret's value, called with MASK for the runbook and with
the real value (resolved only when it runs) for apply: the same function, so the two differ
in the secret alone. A value that only apply can learn (the GTID position a backup ends at)
is a `placeholder()` in the planned command; `matches()` compares a planned line with one
that ran, treating each placeholder as "any text".
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from moodle_wizard.core.sql.quoting import MASK
from moodle_wizard.core.sql.statement import Statement

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["Command", "Script", "Secret", "Shell", "Sql", "WithSecret", "WriteFile", "matches",
           "placeholder", "quote", "render_all", "run_all", "runner"]

# Moodle's own DB password is not in the secret store's sources: it is read from config.php.
MOODLE_DB_PASSWORD = "moodle_db_password"


class Command(Protocol):
    """What every command is: where it runs, its runbook line, and running it."""

    @property
    def host(self) -> str: ...

    def render(self) -> str: ...

    async def run(self, ctx: Context) -> object: ...


@dataclass(frozen=True)
class Secret:
    """A secret by name, resolved only when a command runs. `generate`: the secret is one the
    step generates (kept in the generated-secrets file before first use)."""

    name: str
    generate: Callable[[], str] | None = None

    async def value(self, ctx: Context) -> str:
        if self.name == MOODLE_DB_PASSWORD:
            return await ctx.moodle_password()
        if self.generate is not None:
            return ctx.secrets.generated(self.name, self.generate)
        return ctx.secrets.get(self.name)


def _suffix(note: str) -> str:
    """A command's note (when, why) as a comment after it on its first line."""
    return f"{NOTE_MARK}{note}" if note else ""


NOTE_MARK = "  # "


@dataclass(frozen=True)
class Shell:
    """argv on `host`. A secret goes only on stdin (`stdin`), shown as MASK; `note` says when
    or why (e.g. "only if missing") and is shown as a comment after the command."""

    host: str
    argv: tuple[str, ...]
    stdin: Secret | None = None
    check: bool = True
    timeout: float | None = 600
    note: str = ""

    @classmethod
    def sh(cls, host: str, script: str, *, check: bool = True, timeout: float | None = 600,
           note: str = "") -> Shell:
        """An `sh -c` script (shown as the script itself)."""
        return cls(host, ("sh", "-c", script), check=check, timeout=timeout, note=note)

    def text(self) -> str:
        """The command as a shell would read it (a `sh -c` script as its own text)."""
        if len(self.argv) == 3 and self.argv[:2] == ("sh", "-c"):
            return self.argv[2]
        return " ".join(quote(arg) for arg in self.argv)

    def render(self) -> str:
        stdin = f" <<< '{MASK}'" if self.stdin is not None else ""
        text = self.text()
        if "\n" in text:  # a multi-line script starts on a line of its own, after the note
            return f"on {self.host}:{_suffix(self.note)}\n{text}{stdin}"
        return f"on {self.host}: {text}{stdin}{_suffix(self.note)}"

    async def run(self, ctx: Context) -> object:
        known = ctx.secrets.values()
        if any(value in arg for arg in self.argv for value in known):
            # A command line is visible to every user of the host (ps, /proc). A bug, not
            # the operator's to fix (so no OperatorError): the secret belongs on stdin.
            raise ValueError("a secret in the command line of: "
                             + ctx.secrets.mask(self.render()))
        data = await self.stdin.value(ctx) if self.stdin is not None else None
        host = await ctx.host(self.host)
        return await host.run(list(self.argv), input=data, check=self.check,
                              timeout=self.timeout)


@dataclass(frozen=True)
class Script:
    """A shell script run with `sh -eu`, the script on stdin (RemoteHost.script): for the
    multi-line ones (adding a package repository). Never holds a secret."""

    host: str
    script: str
    timeout: float | None = 600
    note: str = ""

    def render(self) -> str:
        return (f"on {self.host}: sh -eu <<'SCRIPT'{_suffix(self.note)}\n"
                f"{self.script.strip()}\nSCRIPT")

    async def run(self, ctx: Context) -> object:
        if any(value in self.script for value in ctx.secrets.values()):
            raise ValueError("a secret in a script (a bug: scripts are shown and logged): "
                             + ctx.secrets.mask(self.render()))
        host = await ctx.host(self.host)
        return await host.script(self.script, timeout=self.timeout)


@dataclass(frozen=True)
class Sql:
    """One statement on `host`'s database server (the admin connection), shown as the
    statement's own masked form."""

    host: str
    statement: Statement
    note: str = ""

    def render(self) -> str:
        return f"on {self.host}: {self.statement.display()}{_suffix(self.note)}"

    async def run(self, ctx: Context) -> object:
        db = await ctx.db(self.host)
        return await db.run(self.statement)


@dataclass(frozen=True)
class WriteFile:
    """`content` written to `path` on `host` atomically, with `mode` (owner of a file being
    replaced kept). Bytes are written as they are (config.php, byte-exact) and shown as text
    where they decode. In a plan, content or mode only apply knows is a placeholder (the
    mode as None). A file that holds a secret is a `WithSecret` of a WriteFile."""

    host: str
    path: str
    content: str | bytes
    mode: int | None = 0o644
    note: str = ""

    def render(self) -> str:
        mode = f"{self.mode:04o}" if self.mode is not None else placeholder("its mode")
        content = self.content
        if isinstance(content, bytes):
            try:
                content = content.decode()
            except UnicodeDecodeError:
                content = f"({len(content)} bytes, not UTF-8 text)"
        return f"on {self.host}: write {self.path} (mode {mode}):{_suffix(self.note)}\n{content}"

    async def run(self, ctx: Context) -> object:
        if self.mode is None:
            raise ValueError(f"a planned write runs with a mode: {self.path}")
        data = self.content.encode() if isinstance(self.content, str) else self.content
        host = await ctx.host(self.host)
        await host.write_file(self.path, data, mode=self.mode)
        return None


@dataclass(frozen=True)
class WithSecret:
    """A command whose text holds a secret: `make(value)` builds it, with MASK for the runbook
    and with the secret's value when it runs."""

    secret: Secret
    make: Callable[[str], Command]

    @property
    def host(self) -> str:
        return self.make(MASK).host

    def render(self) -> str:
        return self.make(MASK).render()

    async def run(self, ctx: Context) -> object:
        return await self.make(await self.secret.value(ctx)).run(ctx)


def render_all(commands: Iterable[Command]) -> list[str]:
    """The runbook lines of these commands, in the order they run."""
    return [c.render() for c in commands]


async def run_all(ctx: Context, commands: Iterable[Command]) -> None:
    """Run these commands in order (the first that fails stops the rest)."""
    for command in commands:
        await command.run(ctx)


def runner(ctx: Context, commands: Sequence[Command]) -> Callable[[], Awaitable[None]]:
    """An action's `run` that runs exactly these commands (the ones its runbook shows)."""

    async def run() -> None:
        await run_all(ctx, commands)

    return run


_SAFE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)


def quote(arg: str) -> str:
    """shlex.quote, except that a placeholder is a word: a planned path with `<time>` in it
    is shown as the run-time path will be (unquoted when that one needs no quotes)."""
    if _PLACEHOLDER.search(arg) and _SAFE.fullmatch(_PLACEHOLDER.sub("x", arg)):
        return arg
    return shlex.quote(arg)


def placeholder(what: str) -> str:
    """A value only apply learns, in a planned command (`<what>`)."""
    if not _PLACEHOLDER.fullmatch(f"<{what}>"):
        raise ValueError(f"not a placeholder's words: {what!r}")
    return f"<{what}>"


# Words only, so a shell redirection (`2>/dev/null`, `< "$tmp"`) is never taken for one.
_PLACEHOLDER = re.compile(r"<[A-Za-z][A-Za-z0-9 _.-]*>")


def _without_note(line: str) -> str:
    first, newline, rest = line.partition("\n")
    note = first.find(NOTE_MARK)
    return (first if note < 0 else first[:note]) + newline + rest


def matches(planned: str, ran: str) -> bool:
    """Whether a command that ran is the planned one: equal text, each `<...>` of the planned
    line standing for any text (that a runbook shows as a placeholder), a note aside."""
    parts = _PLACEHOLDER.split(_without_note(planned))
    pattern = "(?:.*?)".join(re.escape(p) for p in parts)
    return re.fullmatch(pattern, _without_note(ran), flags=re.DOTALL) is not None
