"""The migration journal: what each step did and learned, saved so a wizard can resume.

One JSON file per migration under the user's state directory, written atomically (a crash
leaves either the old or the new file, never half of one), mode 0600 from the moment it
exists, and never containing a secret. A lock file next to it (core/migrationlock.py) keeps a
second wizard from driving the same migration.

Schema history:
- v0 (never released; what an early prototype wrote, kept to exercise the migration path):
  no `schema_version` key; `{"id": str, "created": <epoch seconds>, "inventory": str,
  "steps": {step: "pending"|"running"|"done"|"failed"}, "facts": {step: {...}}}`.
- v1: `steps: {step: {status, actions, facts: {...}, ...}}`, facts free-form.
- v2: the `MigrationState` model below: each step's facts are its model in core/facts/.
  Same JSON shape as v1, except prepare-source's `cnf_path`/`cnf_previous` became
  `cnf: {path, previous}` (migrate_1_to_2).
- v3: adds `cluster` (core/operate/record.py): the primary after a switchover or failover,
  the hosts a failover fenced, the operations run; and `order`, the order the steps run in
  (classic or proxy-first). A v2 journal had none (migrate_2_to_3: classic, as it ran).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets as _random
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

import platformdirs
from pydantic import ConfigDict, Field, ValidationError

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.facts import (
    CutoverFacts,
    DiscoverFacts,
    PrepareSourceFacts,
    ProxySQLFacts,
    ReplicasFacts,
    VipFacts,
)
from moodle_wizard.core.facts.base import Facts
from moodle_wizard.core.operate.record import Cluster
from moodle_wizard.core.records import ActionRecord, ActionStatus, Record, now
from moodle_wizard.core.state_migrations import (
    MIGRATIONS,
    migrate_0_to_1,
    migrate_1_to_2,
    migrate_2_to_3,
)

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "MIGRATIONS",
    "STATE_DIR_ENV",
    "ActionRecord",
    "ActionStatus",
    "Cluster",
    "MigrationOrder",
    "MigrationState",
    "RemoteJob",
    "SecretInStateError",
    "SecretRegistry",
    "StateError",
    "StepName",
    "StepState",
    "StepStatus",
    "Steps",
    "load",
    "migrate_0_to_1",
    "migrate_1_to_2",
    "migrate_2_to_3",
    "new_state",
    "save",
    "state_dir",
    "state_path",
]

CURRENT_SCHEMA_VERSION = 3
STATE_DIR_ENV = "MOODLE_WIZARD_STATE_DIR"


class StepName(StrEnum):
    DISCOVER = "discover"
    PREPARE_SOURCE = "prepare-source"
    REPLICAS = "replicas"
    PROXYSQL = "proxysql"
    VIP = "vip"
    CUTOVER = "cutover"


class MigrationOrder(StrEnum):
    """Which comes first: the replicas (classic) or ProxySQL, the VIP and the cutover, so that
    the source's restart happens behind ProxySQL (proxy-first: a pause, not failed writes)."""

    CLASSIC = "classic"
    PROXY_FIRST = "proxy-first"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"


_now = now
_Model = Record


class RemoteJob(_Model):
    """A detached job on a remote host the wizard can reattach to after a crash."""

    host: str
    job_id: str
    # e.g. {"output": "/var/tmp/mw-123.out", "exit_code": "/var/tmp/mw-123.rc"}
    paths: dict[str, str] = Field(default_factory=dict)
    started_at: datetime = Field(default_factory=_now)


F = TypeVar("F", bound=Facts)


class StepState(_Model, Generic[F]):
    status: StepStatus = StepStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    actions: list[ActionRecord] = Field(default_factory=list)
    facts: F
    remote_jobs: list[RemoteJob] = Field(default_factory=list)
    last_error: str | None = None

    def forget_facts(self) -> None:
        """A rolled-back step starts again from nothing it recorded."""
        self.facts = type(self.facts)()


class Steps(_Model):
    """Each step's journal entry, its facts typed by the step's own model."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)
    discover: StepState[DiscoverFacts] = Field(
        default_factory=lambda: StepState[DiscoverFacts](facts=DiscoverFacts()))
    prepare_source: StepState[PrepareSourceFacts] = Field(
        alias="prepare-source",
        default_factory=lambda: StepState[PrepareSourceFacts](facts=PrepareSourceFacts()))
    replicas: StepState[ReplicasFacts] = Field(
        default_factory=lambda: StepState[ReplicasFacts](facts=ReplicasFacts()))
    proxysql: StepState[ProxySQLFacts] = Field(
        default_factory=lambda: StepState[ProxySQLFacts](facts=ProxySQLFacts()))
    vip: StepState[VipFacts] = Field(
        default_factory=lambda: StepState[VipFacts](facts=VipFacts()))
    cutover: StepState[CutoverFacts] = Field(
        default_factory=lambda: StepState[CutoverFacts](facts=CutoverFacts()))

    def by_name(self) -> dict[StepName, StepState[Any]]:
        return {StepName.DISCOVER: self.discover, StepName.PREPARE_SOURCE: self.prepare_source,
                StepName.REPLICAS: self.replicas, StepName.PROXYSQL: self.proxysql,
                StepName.VIP: self.vip, StepName.CUTOVER: self.cutover}

    def items(self) -> list[tuple[StepName, StepState[Any]]]:
        return list(self.by_name().items())

    def values(self) -> list[StepState[Any]]:
        return list(self.by_name().values())


class MigrationState(_Model):
    schema_version: int = CURRENT_SCHEMA_VERSION
    migration_id: str
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    inventory_path: str
    steps: Steps = Field(default_factory=Steps)
    # Set by `moodle-wizard finish` before it removes anything: from then on the migration
    # cannot be rolled back (the backups rollback needs are going or gone).
    finished_at: datetime | None = None
    # After the migration: who is the primary now, what a failover fenced, the operation
    # (switchover, failover, rejoin) in flight and those done (core/operate/).
    cluster: Cluster = Field(default_factory=Cluster)
    # The order the steps run in, decided once discovery has run (and kept: resume and
    # rollback follow the order that ran). None until then.
    order: MigrationOrder | None = None

    def step(self, name: StepName | str) -> StepState[Any]:
        """A step's journal entry for what every step has (status, actions, jobs); its facts
        are typed through `steps.<name>.facts`."""
        return self.steps.by_name()[StepName(name)]

    def dump(self) -> dict[str, Any]:
        """The JSON document, as the file holds it (step names as the journal spells them)."""
        return self.model_dump(mode="json", by_alias=True)


def new_state(migration_id: str, inventory_path: str | Path) -> MigrationState:
    return MigrationState(migration_id=migration_id, inventory_path=str(inventory_path))


# -- errors --------------------------------------------------------------------------------------


class StateError(OperatorError):
    """The state file cannot be used; the message says which file and what to do."""
    bad_input = True


class SecretInStateError(StateError):
    pass


# -- location ------------------------------------------------------------------------------------


def state_dir() -> Path:
    """Where migrations are journaled; MOODLE_WIZARD_STATE_DIR overrides (tests, sandboxes)."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    return platformdirs.user_state_path("moodle-wizard")


def state_path(migration_id: str) -> Path:
    if not migration_id or "/" in migration_id or migration_id.startswith("."):
        raise StateError(f"invalid migration name {migration_id!r}: it names the journal file "
                         f"in {state_dir()}, so it cannot be empty, hold '/' or start with '.'")
    return state_dir() / f"{migration_id}.json"


# -- secrets guard -------------------------------------------------------------------------------


class SecretRegistry:
    """The secret values this process knows (from config.php, prompts), held only in memory.

    `save` refuses a state that contains one. Secrets of 6+ characters are also found inside
    longer strings (an error message quoting a command line); shorter ones only as a whole
    value, because a short password would otherwise match ordinary words and block saving.
    """

    SUBSTRING_MIN = 6

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.register(value)

    def register(self, value: str) -> None:
        if value:
            self._values.add(value)

    def __len__(self) -> int:
        return len(self._values)

    def leaks(self, text: str) -> bool:
        return any(
            text == secret or (len(secret) >= self.SUBSTRING_MIN and secret in text)
            for secret in self._values
        )


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}[{i}]")


def _check_no_secrets(document: dict[str, Any], secrets: SecretRegistry) -> None:
    for where, text in _strings(document, "state"):
        if secrets.leaks(text):
            raise SecretInStateError(
                f"refusing to save the migration state: {where} contains a secret (a "
                f"password or key). The state file must hold no secrets; record a reference "
                f"to it instead (this is a bug in the step that stored it)."
            )


# -- save / load ---------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, payload: bytes) -> None:
    """Write a file that only its owner may read, atomically: a 0600 temp file in the same
    directory (never readable by others, not even briefly), fsync, rename, fsync the
    directory. A crash leaves the old file or the new one, never half of one."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = directory / f".{path.name}.{os.getpid()}.{_random.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def save(
    state: MigrationState,
    path: Path,
    *,
    secrets: SecretRegistry | Iterable[str] = (),
) -> None:
    """Write `state` to `path` atomically with mode 0600, stamping `updated_at`.

    The text is built before any file is touched, written to a temp file in the same
    directory (created 0600, so never readable by others, not even briefly), flushed and
    fsynced, renamed over `path`, and the directory is fsynced so the rename survives a crash.
    """
    registry = secrets if isinstance(secrets, SecretRegistry) else SecretRegistry(secrets)
    previous_stamp = state.updated_at
    state.updated_at = _now()
    try:
        document = state.dump()
        _check_no_secrets(document, registry)
        payload = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    except BaseException:
        state.updated_at = previous_stamp
        raise
    write_private(path, payload)


def _corrupt(path: Path, why: str) -> StateError:
    return StateError(
        f"the migration state file {path} is unreadable ({why}). Nothing was changed. Move it "
        f"aside (mv {path} {path}.corrupt) and check what the migration had done with "
        f"`moodle-wizard status` on the hosts before starting again, or restore it from a "
        f"backup."
    )


def load(path: Path) -> MigrationState:
    """Read a state file, migrating older schema versions in memory."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StateError(f"no migration state at {path}") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _corrupt(path, "not a JSON object")
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or version < 0:
        raise _corrupt(path, f"bad schema_version {version!r}")
    if version > CURRENT_SCHEMA_VERSION:
        raise StateError(
            f"the migration state {path} was written by a newer moodle-wizard (schema "
            f"{version} > {CURRENT_SCHEMA_VERSION}); upgrade the wizard to continue this migration"
        )
    try:
        while version < CURRENT_SCHEMA_VERSION:
            data = MIGRATIONS[version](data)
            version = data["schema_version"]
        return MigrationState.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _corrupt(path, f"{where}: {first['msg']}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise _corrupt(path, f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
