"""The migration lock (issue 10, item 14): taken before the journal is read, and one lock per
migration on the host whoever runs the wizard (root and a sudo user with their own HOME).

The second wizard is always a real process: flock is per open file, and what matters is
what another `moodle-wizard` sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from moodle_wizard.core.migrationlock import MigrationLock
from moodle_wizard.core.state import StateError
from tests.asuser import readable_install
from tests.unit.inventories import MINIMAL_INVENTORY

ROOT = Path(__file__).resolve().parents[2]

INVENTORY = MINIMAL_INVENTORY

# A journal another wizard is in the middle of replacing: whoever reads it without the lock
# acts on it (or, as here, trips over it) instead of seeing that the migration is busy.
HALF_WRITTEN = '{"schema_version": 1, "migration_id": "site", "steps": {'


def wizard(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOODLE_WIZARD_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "moodle_wizard", *args], capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("command", [
    ["resume", "--yes"],
    ["rollback", "--yes", "--migration", "site"],
    ["drill", "vip", "--migration", "site"],
    ["run", "--yes", "--inventory", "{inventory}"],
], ids=["resume", "rollback", "drill", "run"])
def test_a_second_wizard_checks_the_lock_before_it_reads_the_journal(
        tmp_path: Path, command: list[str]) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    inventory = tmp_path / "site.toml"
    inventory.write_text(INVENTORY)
    journal = state_dir / "site.json"
    journal.write_text(HALF_WRITTEN)
    args = [a.replace("{inventory}", str(inventory)) for a in command]
    with MigrationLock(journal):
        proc = wizard(state_dir, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"pid {os.getpid()}" in proc.stderr and "is driving this migration" in proc.stderr
    assert "unreadable" not in proc.stderr  # it never read the journal
    assert journal.read_text() == HALF_WRITTEN


HOLD = textwrap.dedent("""
    import sys
    from moodle_wizard.core.migrationlock import MigrationLock
    from moodle_wizard.core.state import state_path
    with MigrationLock(state_path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.read()
""")

TRY = textwrap.dedent("""
    import sys
    from moodle_wizard.core.migrationlock import LockHeldError, MigrationLock
    from moodle_wizard.core.state import StateError, state_path
    try:
        with MigrationLock(state_path(sys.argv[1])):
            print("locked")
    except LockHeldError as exc:
        print(f"held {exc.pid}: {exc}")
    except StateError as exc:
        print(f"refused: {exc}")
""")


def _env(home: Path, lock_dir: Path, state_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MOODLE_WIZARD_STATE_DIR", "XDG_STATE_HOME")}
    env.update(HOME=str(home), MOODLE_WIZARD_LOCK_DIR=str(lock_dir))
    if state_dir is not None:
        env["MOODLE_WIZARD_STATE_DIR"] = str(state_dir)
    return env


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A wizard of 'root' (HOME tmp/root) holding migration site's lock."""
    lock_dir = tmp_path / "run-lock" / "moodle-wizard"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, "site"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env=_env(tmp_path / "root", lock_dir))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield proc, lock_dir
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def _try(env: dict[str, str], migration: str = "site") -> str:
    out = subprocess.run([sys.executable, "-c", TRY, migration], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_two_users_journals_for_one_migration_share_one_host_lock(
        tmp_path: Path, holder: tuple[subprocess.Popen[str], Path]) -> None:
    proc, lock_dir = holder
    # Another HOME: another journal (~/.local/state/moodle-wizard/site.json), same migration.
    other = _try(_env(tmp_path / "operator", lock_dir))
    assert other.startswith(f"held {proc.pid}:"), other
    assert "is driving migration site on this host" in other
    assert not (tmp_path / "operator" / ".local" / "state" / "moodle-wizard"
                / "site.json.lock").read_text(), "the refused wizard let go of its own lock"
    # A sandboxed journal too (MOODLE_WIZARD_STATE_DIR) when it names the same lock dir.
    assert _try(_env(tmp_path / "x", lock_dir, tmp_path / "sandbox")).startswith("held ")
    # Another migration is not held up.
    assert _try(_env(tmp_path / "operator", lock_dir), "other-site") == "locked"
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)
    assert _try(_env(tmp_path / "operator", lock_dir)) == "locked"


def test_the_host_lock_directory_is_private_to_root(
        tmp_path: Path, holder: tuple[subprocess.Popen[str], Path]) -> None:
    _, lock_dir = holder
    st = lock_dir.stat()
    assert st.st_uid == os.geteuid() and oct(st.st_mode & 0o777) == oct(0o755)
    lock = lock_dir / "site.lock"
    assert lock.stat().st_uid == os.geteuid() and lock.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("prepare", ["world-writable", "symlink-dir", "symlink-file",
                                     "other-owner"])
def test_a_lock_path_someone_else_prepared_is_refused_and_kept(
        tmp_path: Path, prepare: str) -> None:
    lock_dir = tmp_path / "run-lock" / "moodle-wizard"
    lock_dir.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if prepare == "world-writable":
        lock_dir.mkdir()
        lock_dir.chmod(0o777)
    elif prepare == "symlink-dir":
        lock_dir.symlink_to(elsewhere)
    elif prepare == "symlink-file":
        lock_dir.mkdir(mode=0o755)
        (lock_dir / "site.lock").symlink_to(elsewhere / "target")
    else:
        if os.geteuid() != 0:
            pytest.skip("needs root to give the directory to another user")
        lock_dir.mkdir(mode=0o755)
        os.chown(lock_dir, 65534, 65534)
    home = tmp_path / "root"  # the wizard's own HOME, with its journal lock

    def theirs() -> list[str]:
        return sorted(str(p) for p in tmp_path.rglob("*") if not p.is_relative_to(home))

    before = theirs()
    out = _try(_env(home, lock_dir))
    assert out.startswith("refused: "), out
    fix = f"chmod go-w {lock_dir}" if prepare == "world-writable" else "Remove it (as root)"
    assert str(lock_dir) in out and fix in out, out
    assert theirs() == before, "nothing of theirs is removed or added"
    assert not (elsewhere / "target").exists()


def test_the_journal_lock_is_let_go_when_the_host_lock_is_refused(tmp_path: Path) -> None:
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir()
    lock_dir.chmod(0o777)
    journal = tmp_path / "state" / "site.json"
    os.environ["MOODLE_WIZARD_LOCK_DIR"] = str(lock_dir)
    try:
        with pytest.raises(StateError, match="chmod go-w"):
            MigrationLock(journal).acquire()
        lock_dir.chmod(0o755)
        with MigrationLock(journal):  # the journal lock was released by the refusal
            pass
    finally:
        del os.environ["MOODLE_WIZARD_LOCK_DIR"]


NOBODY_TRY = textwrap.dedent("""
    import sys
    from pathlib import Path
    from moodle_wizard.core.hostlock import HostLock, HostLockHeld
    lock = HostLock("site", Path(sys.argv[1]))
    try:
        lock.acquire()
    except HostLockHeld as exc:
        print(f"held {exc.pid}")
    else:
        print("locked" if lock.held else "not shared")
""")


def test_an_ordinary_user_shares_roots_host_lock(tmp_path: Path) -> None:
    """A wizard run by an ordinary user cannot create the root-owned lock, but it takes
    root's lock file (read-only is enough for flock), so it contends with root's runs."""
    # The package from a copy uid 65534 can read (stdlib-only modules: no dependencies): the
    # checkout and its venv may be private (a clone under /root).
    with readable_install(dependencies=False) as nobody:
        lock_dir = nobody.path.parent / "moodle-wizard"

        def as_nobody() -> str:
            out = nobody.run(["-c", NOBODY_TRY, str(lock_dir)], timeout=60)
            assert out.returncode == 0, out.stderr
            return str(out.stdout.strip())

        assert as_nobody() == "not shared"  # no root-made lock yet: it cannot make one
        env = _env(tmp_path / "root", lock_dir)
        proc = subprocess.Popen([sys.executable, "-c", HOLD, "site"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        try:
            assert as_nobody() == f"held {proc.pid}"
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=10)
        assert as_nobody() == "locked"
