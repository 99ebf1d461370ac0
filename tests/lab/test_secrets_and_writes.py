"""Issue 6, sections 3 and 4, in one full migration of the lab (then its rollback):

- secrets nowhere: the run uses distinctive passwords (quotes, a backslash, `$()`, backticks,
  spaces, non-ASCII), from a 0600 secrets file; afterwards none of them is in the state dir,
  the audit log, the runbook, any file written on any lab host under /tmp, /root (shell
  histories included), /var/log, /var/tmp or /run, nor in any `ps` listing taken on every
  host during the run;
- file modes: the state, generated-secrets and config.php backup files are 0600, and no
  remote temp file of the wizard is left;
- the source is sacred: a writer on app (re-reading config.php each time, as Moodle does)
  writes every 20 ms through the whole run (in the classic order); no write fails outside the
  announced restart; and
  after the rollback every Moodle table on db1 has its checksum from before.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import CONFIG, cluster_snapshot
from tests.lab.wizard import ALLOW_RESTART, Wizard

HOSTS = ("jump", "app", "db1", "db2", "db3", "px1", "px2")
WRITER = (Path(__file__).parent / "files" / "mw-writer.php").read_text()
# Each password carries a tag of its own, so a mangled (escaped, cut) copy is found too.
SECRETS = {
    "replication_password": "R'e\"p\\l $(id) `uname` é-TAGREPL71",
    "monitor_password": "M'o\"n\\i $(x) `id` ü-TAGMONI72",
    # ProxySQL's admin credentials cannot hold ':', ';' or spaces (refused in preflight).
    "proxysql_admin_password": "A'd\"m\\n$(y)`w`ñ-TAGPXAD73",
    "proxysql_readonly_password": "O'r\"o\\n $(z) `ls` ø-TAGPXRO74",
}
TAGS = [p.rsplit("-", 1)[1] for p in SECRETS.values()]
SCANNED = ("tmp", "root", "var/log", "var/tmp", "run")


@dataclass
class Run:
    wizard: Wizard
    before: dict[str, Any]
    output: str
    state: dict[str, Any]
    writes: dict[str, Any]
    ps_lines: set[str]
    ps_rounds: int
    runbook: str
    modes: dict[str, str] = field(default_factory=dict)
    found_after_run: list[str] = field(default_factory=list)
    rollback_output: str = ""
    after: dict[str, Any] = field(default_factory=dict)
    found_after_rollback: list[str] = field(default_factory=list)


def scan(lab: Lab, wizard: Wizard) -> list[str]:
    """Every file (on every lab host: what that host wrote under SCANNED, i.e. its overlay's
    upper layer; and the wizard's state dir) that holds a password or a tag."""
    needles = [*SECRETS.values(), *TAGS]
    hits = []
    for host in HOSTS:
        upper = Path("/srv/mwlab/hosts") / host / "upper"
        for part in SCANNED:
            top = upper / part
            if not top.exists():
                continue
            for path in top.rglob("*"):
                if not path.is_file() or path.is_symlink():
                    continue
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(n.encode() in data for n in needles):
                    hits.append(f"{host}:/{path.relative_to(upper)}")
    # The one place a secret may be: the migration's own 0600 secrets file (generated ones,
    # and operator-given ones the wizard must find again to resume or roll back).
    allowed = {f"jump:{wizard.state_dir}/mwlab.secrets"}
    return [h for h in hits if h not in allowed]


def poll_ps(lab: Lab, stop: threading.Event, lines: set[str], rounds: list[int]) -> None:
    while not stop.is_set():
        for host in HOSTS:
            out = lab.exec(host, "ps", "-eo", "args", check=False).stdout
            lines.update(out.splitlines())
        rounds[0] += 1


@pytest.fixture(scope="module")
def migration(running_lab: Lab) -> Iterator[Run]:
    lab = running_lab
    with Wizard(lab) as wizard:
        # The input: on the lab's shared dir (not a host's own files), like the lab's own.
        secrets_file = f"/srv/mwlab/test-secrets-{wizard.state_dir.rsplit('-', 1)[1]}.json"
        lab_secrets = json.loads(lab.exec("jump", "cat", "/srv/mwlab/secrets.json").stdout)
        lab.exec("jump", "sh", "-c", f"umask 077; cat > {secrets_file}",
                 input=json.dumps({**lab_secrets, **SECRETS}).encode())
        wizard.files.append(secrets_file)
        # The classic order, whose restart Moodle sees (test_proxy_first.py runs the default,
        # proxy-first, with its writer): both orders keep a writer through a whole run.
        inventory = wizard.inventory("secrets", **ALLOW_RESTART, **{
            'file = "/srv/mwlab/secrets.json"': f'file = "{secrets_file}"',
            "[migration]\n": '[migration]\norder = "classic"\n'})
        runbook = f"{wizard.state_dir}/runbook.md"
        lab.exec("jump", "mkdir", "-p", "-m", "0700", wizard.state_dir)
        plan = wizard("plan", "--inventory", inventory, "--output", runbook)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        before = cluster_snapshot(lab)

        lab.exec("app", "sh", "-c", "cat > /run/mw-writer.php", input=WRITER.encode())
        lab.exec("app", "sh", "-c", "rm -f /run/mw-writer.stop; setsid php /run/mw-writer.php "
                 f"{CONFIG} /run/mw-writer.stop </dev/null >/run/mw-writer.out 2>&1 & "
                 "echo $! > /run/mw-writer.pid")
        stop, lines, rounds = threading.Event(), set[str](), [0]
        poller = threading.Thread(target=poll_ps, args=(lab, stop, lines, rounds), daemon=True)
        poller.start()
        run = None
        try:
            run = wizard("run", "--inventory", inventory, "--yes")
        finally:
            stop.set()
            poller.join(timeout=60)
            lab.exec("app", "touch", "/run/mw-writer.stop")
            pid = lab.exec("app", "cat", "/run/mw-writer.pid").stdout.strip()
            deadline = time.monotonic() + 30
            while lab.exec("app", "sh", "-c", f"ps -o stat= -p {pid} | grep -qv Z",
                           check=False).returncode == 0:
                assert time.monotonic() < deadline, "the writer stopped"
                time.sleep(0.1)
            writes = json.loads(lab.exec("app", "cat", "/run/mw-writer.out").stdout or "{}")
            lab.exec("app", "rm", "-f", "/run/mw-writer.php", "/run/mw-writer.stop",
                     "/run/mw-writer.out", "/run/mw-writer.pid")
        assert run is not None
        result = Run(wizard, before, run.stdout + run.stderr, {}, writes, lines, rounds[0],
                     lab.exec("jump", "cat", runbook).stdout)
        try:
            assert run.returncode == 0, result.output
            result.state = wizard.state()
            for name in ("mwlab.json", "mwlab.secrets", "mwlab.audit.log"):
                result.modes[name] = lab.exec("jump", "stat", "-c", "%a",
                                              f"{wizard.state_dir}/{name}").stdout.strip()
            result.modes["config.php backup"] = lab.exec(
                "app", "sh", "-c", "find /var/backups/moodle-wizard -type f -exec stat -c %a "
                "{} +").stdout.strip()
            assert result.modes["config.php backup"], "the config.php backup exists"
            result.found_after_run = scan(lab, wizard)
        finally:
            back = wizard("rollback", "--yes")
            result.rollback_output = back.stdout + back.stderr
            # The writer's rows are the test's, not Moodle's: gone again before comparing.
            lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe "
                     "WHERE apphost = 'mw-writer'")
            result.after = cluster_snapshot(lab)
            result.found_after_rollback = scan(lab, wizard)
        assert back.returncode == 0, result.rollback_output
        yield result


def test_no_secret_anywhere(migration: Run) -> None:
    assert migration.found_after_run == [], migration.found_after_run
    assert migration.found_after_rollback == [], migration.found_after_rollback
    for needle in [*SECRETS.values(), *TAGS]:
        assert needle not in migration.output
        assert needle not in migration.rollback_output
        assert needle not in migration.runbook
        assert not [line for line in migration.ps_lines if needle in line]
    # The listings covered the run: several rounds on every host, the seed stream included.
    print(f"\nps: {migration.ps_rounds} rounds x {len(HOSTS)} hosts, "
          f"{len(migration.ps_lines)} distinct command lines")
    assert migration.ps_rounds >= 5
    assert any("mbstream" in line or "mariadb-backup" in line for line in migration.ps_lines)
    assert "********" in migration.runbook or "<" in migration.runbook


def test_state_secrets_and_backup_files_are_0600(migration: Run) -> None:
    assert migration.modes["mwlab.json"] == "600"
    assert migration.modes["mwlab.secrets"] == "600"
    assert migration.modes["mwlab.audit.log"] == "600"
    for mode in migration.modes["config.php backup"].split():
        assert mode == "600", migration.modes


def test_no_remote_temp_file_is_left(running_lab: Lab, migration: Run) -> None:
    for host in HOSTS:
        left = running_lab.exec(host, "sh", "-c", "ls -d /tmp/moodle-wizard* /tmp/.mw* "
                                "/var/tmp/moodle-wizard/seed /root/.ssh/.ak.mw "
                                "2>/dev/null || true").stdout
        assert left.strip() == "", (host, left)


def restart_window(state: dict[str, Any]) -> tuple[float, float]:
    actions = state["steps"]["prepare-source"]["actions"]
    restart = next(a for a in actions if a["id"] == "restart")
    return (datetime.fromisoformat(restart["started_at"]).timestamp(),
            datetime.fromisoformat(restart["finished_at"]).timestamp())


def test_writes_are_accepted_except_during_the_announced_restart(migration: Run) -> None:
    ok, failed = migration.writes["ok"], migration.writes["failed"]
    start, end = restart_window(migration.state)
    # A write attempt that began up to its connect timeout before the restart may fail in it.
    outside = [f for f in failed if not start - 2.5 <= f[0] <= end]
    gaps = [b - a for a, b in itertools.pairwise(ok)]
    longest = max(gaps) if gaps else 0.0
    outside_gaps = [b - a for a, b in itertools.pairwise(ok)
                    if b - a > 0.5 and not (a <= end and b >= start)]
    print(f"\nwriter: {len(ok)} writes ok, {len(failed)} failed ({len(outside)} outside the "
          f"restart {end - start:.2f} s); longest gap {longest:.2f} s; gaps > 0.5 s outside "
          f"the restart: {[round(g, 2) for g in outside_gaps]}")
    assert len(ok) > 100
    assert outside == []
    # Outside the restart writes may wait (mariadb-backup's short commit lock) but not stop.
    assert all(g < 5 for g in outside_gaps), outside_gaps


def test_rollback_leaves_the_source_as_it_was(migration: Run) -> None:
    assert migration.after == migration.before
    # db1's part holds every Moodle table's checksum, its users, variables, cnf and binlogs.
    assert migration.after["db1"] == migration.before["db1"]
    assert migration.before["db1"]["checksums"]
