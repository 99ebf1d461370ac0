"""The migration journal: atomic 0600 saves, schema migration, refusal messages, lock, secrets."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moodle_wizard.core import state as st
from moodle_wizard.core.facts import DiscoverFacts, ReplicaHostFacts
from moodle_wizard.core.migrationlock import LockHeldError, MigrationLock
from moodle_wizard.core.state import (
    CURRENT_SCHEMA_VERSION,
    ActionRecord,
    ActionStatus,
    RemoteJob,
    SecretInStateError,
    SecretRegistry,
    StateError,
    StepName,
    StepStatus,
    load,
    new_state,
    save,
    state_dir,
    state_path,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state"
    monkeypatch.setenv(st.STATE_DIR_ENV, str(directory))
    return directory


def _sample() -> st.MigrationState:
    state = new_state("m1", "/etc/moodle-wizard/inventory.toml")
    discover = state.step(StepName.DISCOVER)
    discover.status = StepStatus.DONE
    discover.facts = DiscoverFacts(replicas={"db2": ReplicaHostFacts(
        datadir="/var/lib/mysql", server_running=False, free_bytes=73400320)})
    discover.actions.append(ActionRecord(id="probe-db1", status=ActionStatus.DONE))
    replicas = state.step("replicas")
    replicas.status = StepStatus.RUNNING
    replicas.remote_jobs.append(
        RemoteJob(host="db2", job_id="mw-seed-1", paths={"output": "/var/tmp/mw-seed-1.out"})
    )
    return state


def test_state_dir_override_and_default(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert state_dir() == home
    assert state_path("m1") == home / "m1.json"
    monkeypatch.delenv(st.STATE_DIR_ENV)
    assert state_dir().name == "moodle-wizard"
    for bad in ("", "../x", ".hidden"):
        with pytest.raises(StateError, match="invalid migration name"):
            state_path(bad)


def test_round_trip(home: Path) -> None:
    state = _sample()
    path = state_path("m1")
    before = state.updated_at
    save(state, path)
    assert state.updated_at >= before
    loaded = load(path)
    assert loaded == state
    assert loaded.step(StepName.REPLICAS).remote_jobs[0].paths["output"].endswith(".out")
    assert set(loaded.steps.by_name()) == set(StepName)
    assert json.loads(path.read_text())["schema_version"] == CURRENT_SCHEMA_VERSION


def test_file_is_0600_from_the_start(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[int] = []
    real_replace = os.replace

    def observe(src: str | Path, dst: str | Path) -> None:
        modes.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", observe)
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        save(_sample(), state_path("m1"))
    finally:
        os.umask(old_umask)
    assert modes == [0o600]
    assert stat.S_IMODE(state_path("m1").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "m1.json")


def test_failed_serialisation_keeps_the_old_file(home: Path) -> None:
    state = _sample()
    path = state_path("m1")
    save(state, path)
    good = path.read_bytes()
    stamp = state.updated_at
    # Past validation, as a bug in a step could leave it: the file must not be touched.
    state.steps.vip.facts.__dict__["holder"] = object()
    with pytest.raises(Exception, match="serializ"):
        save(state, path)
    assert path.read_bytes() == good
    assert state.updated_at == stamp
    assert _leftovers(home) == []


def test_failed_write_keeps_the_old_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _sample()
    path = state_path("m1")
    save(state, path)
    good = path.read_bytes()
    state.steps.vip.facts.holder = "px1"

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        save(state, path)
    assert path.read_bytes() == good
    assert _leftovers(home) == []


V0 = {
    "id": "legacy",
    "created": 1767225600.0,
    "inventory": "/root/inventory.toml",
    "steps": {"discover": "done", "prepare-source": "failed", "replicas": "pending"},
    "facts": {"discover": {"flavor": "mariadb", "replicas": ["db2", "db3"]}},
}


def test_migration_from_v0(home: Path) -> None:
    path = state_path("legacy")
    home.mkdir()
    path.write_text(json.dumps(V0))
    state = load(path)
    assert state.schema_version == CURRENT_SCHEMA_VERSION
    assert state.migration_id == "legacy"
    assert state.inventory_path == "/root/inventory.toml"
    assert state.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert state.step(StepName.PREPARE_SOURCE).status is StepStatus.FAILED
    assert state.step(StepName.CUTOVER).status is StepStatus.PENDING
    # The prototype's flat discovery facts fit no model: discovery (read-only) runs again.
    assert state.step(StepName.DISCOVER).status is StepStatus.PENDING
    assert state.steps.discover.facts == DiscoverFacts()
    save(state, path)
    assert json.loads(path.read_text())["schema_version"] == CURRENT_SCHEMA_VERSION
    assert load(path) == state


def test_newer_schema_is_refused(home: Path) -> None:
    path = state_path("m1")
    save(_sample(), path)
    data = json.loads(path.read_text())
    data["schema_version"] = CURRENT_SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(StateError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    assert f"newer moodle-wizard (schema {CURRENT_SCHEMA_VERSION + 1} > " in message
    assert "upgrade the wizard" in message


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffgarbage",
        b'{"schema_version": 1, "migration_id": "m1", "inventory_pa',
        b"[1, 2, 3]",
        b'{"schema_version": 1, "migration_id": "m1"}',
        b'{"schema_version": "one"}',
        json.dumps({**V0, "created": "yesterday"}).encode(),
    ],
)
def test_corrupt_file_message(home: Path, content: bytes) -> None:
    path = state_path("m1")
    home.mkdir()
    path.write_bytes(content)
    with pytest.raises(StateError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    assert "unreadable" in message and "Move it aside" in message
    assert path.read_bytes() == content


def test_missing_file(home: Path) -> None:
    with pytest.raises(StateError, match="no migration state"):
        load(state_path("nope"))


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from moodle_wizard.core.migrationlock import MigrationLock
    with MigrationLock(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def holder(home: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_path("m1"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_lock_is_refused_while_another_process_holds_it(
    holder: subprocess.Popen[str],
) -> None:
    path = state_path("m1")
    with pytest.raises(LockHeldError) as info:
        MigrationLock(path).acquire()
    assert info.value.pid == holder.pid
    assert f"pid {holder.pid}" in str(info.value)
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=10)
    with MigrationLock(path) as lock:
        assert lock.path.read_text().strip() == str(os.getpid())
    assert lock.path.read_text() == ""


def test_lock_dies_with_a_killed_holder(holder: subprocess.Popen[str]) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    with MigrationLock(state_path("m1")):
        pass


def test_lock_conflicts_within_one_process_too(home: Path) -> None:
    with MigrationLock(state_path("m1")), pytest.raises(LockHeldError):
        MigrationLock(state_path("m1")).acquire()


def test_secrets_are_refused(home: Path) -> None:
    path = state_path("m1")
    secrets = SecretRegistry(["hunter2-Db!"])
    state = _sample()
    save(state, path, secrets=secrets)
    good = path.read_bytes()

    state.steps.vip.facts.holder = "hunter2-Db!"
    with pytest.raises(SecretInStateError, match=r"state\.steps\.vip\.facts\.holder"):
        save(state, path, secrets=secrets)
    state.steps.vip.facts.holder = None

    state.step(StepName.REPLICAS).last_error = "mariadb -phunter2-Db! failed"
    with pytest.raises(SecretInStateError, match="last_error"):
        save(state, path, secrets=["hunter2-Db!"])
    state.step(StepName.REPLICAS).last_error = None

    state.steps.replicas.facts.moved_datadirs = {"hunter2-Db!": "/var/lib/mysql.x"}
    with pytest.raises(SecretInStateError):
        save(state, path, secrets=secrets)
    assert path.read_bytes() == good
    assert _leftovers(home) == []


def test_short_secrets_match_whole_values_only(home: Path) -> None:
    secrets = SecretRegistry(["abc"])
    state = _sample()
    state.steps.vip.facts.holder = "abcdef contains it"
    save(state, state_path("m1"), secrets=secrets)
    state.steps.vip.facts.reached = "abc"
    with pytest.raises(SecretInStateError):
        save(state, state_path("m1"), secrets=secrets)


def test_migration_from_v1_keeps_every_recorded_fact(home: Path) -> None:
    """A journal written before facts were typed loads with what its rollback needs: the
    config file's old text (None: there was none), the ProxySQL admin address once read."""
    path = state_path("m1")
    save(_sample(), path)
    data = json.loads(path.read_text())
    data["schema_version"] = 1
    data["steps"]["prepare-source"]["facts"] = {
        "cnf_path": "/etc/mysql/mariadb.conf.d/90-moodle-wizard.cnf", "cnf_previous": None,
        "accounts_created": [["mw_repl", "10.77.0.12"]]}
    data["steps"]["proxysql"]["facts"] = {"nodes": {
        "px1": {"was_running": True, "db_files": [], "files": [], "backup": None,
                "admin_ifaces": "0.0.0.0:6032"},
        "px2": {"was_running": False, "db_files": [], "files": [], "backup": None}}}
    path.write_text(json.dumps(data))
    state = load(path)
    prepare = state.steps.prepare_source.facts
    assert prepare.cnf is not None and prepare.cnf.previous is None
    assert prepare.cnf.path.endswith("90-moodle-wizard.cnf")
    assert prepare.accounts_created == [("mw_repl", "10.77.0.12")]
    nodes = state.steps.proxysql.facts.nodes
    assert nodes["px1"].admin_ifaces_read and nodes["px1"].admin_ifaces == "0.0.0.0:6032"
    assert not nodes["px2"].admin_ifaces_read
    assert state.steps.discover.facts.replicas["db2"].free_bytes == 73400320


def test_a_fact_no_model_knows_is_refused_clearly(home: Path) -> None:
    path = state_path("m1")
    save(_sample(), path)
    data = json.loads(path.read_text())
    data["steps"]["vip"]["facts"]["holdr"] = "px1"
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match=r"unreadable .*holdr"):
        load(path)
