"""Everything a migration run needs, opened and closed together: the one way the headless
commands and the wizard's screens build a Context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Confirm, Context
from moodle_wizard.core.errors import attach_mask
from moodle_wizard.core.events import EventSink
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.state import MigrationState, state_dir

AskHostKey = Callable[[str, str], Awaitable[bool]]


def audit_path(state_path: Path) -> Path:
    return state_path.with_suffix(".audit.log")


def bug_log_path() -> Path:
    """Where a bug's traceback goes (core/errors.py explain): beside the journals, 0600."""
    return state_dir() / "moodle-wizard.log"


def generated_secrets_path(state_path: Path) -> Path:
    """The secrets the wizard generates for this migration, next to its state (0600). Not
    `*.json`: the state directory's `*.json` files are the migrations."""
    return state_path.with_suffix(".secrets")


@asynccontextmanager
async def open_session(
    inventory: Inventory, state: MigrationState, state_path: Path | None, *,
    emit: EventSink, confirm: Confirm, accepted_host_keys: dict[str, str] | None = None,
    ask_host_key: AskHostKey | None = None, prompt: Callable[[str], str] | None = None,
    known_hosts: Path | None = None,
) -> AsyncIterator[Context]:
    """state_path None: nothing is saved (the runbook's discovery, a dry look)."""
    secrets_file = Path(inventory.secrets.file) if inventory.secrets.file else None
    store = SecretStore(secrets_file, inventory.secrets.env_prefix, prompt=prompt,
                        generated=generated_secrets_path(state_path) if state_path else None)
    audit = AuditLog(audit_path(state_path) if state_path else None, store)
    policy = HostKeyPolicy(known_hosts=known_hosts or Path.home() / ".ssh" / "known_hosts",
                           accepted=accepted_host_keys or {}, ask=ask_host_key)
    async with SshPool(policy, audit=audit.command) as pool:
        ctx = Context(inventory, state, state_path, store, pool, audit, emit, confirm)
        try:
            yield ctx
        except Exception as exc:
            # A bug's traceback is written far from here (explain): it takes this session's
            # secrets with it, so the bug log never holds one.
            attach_mask(exc, store.mask)
            raise
        finally:
            await ctx.close()
