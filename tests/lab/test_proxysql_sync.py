"""`moodle-wizard proxysql sync` against the lab (issue 15 item 2): after the migration the
operator changes Moodle's password as one would (ALTER USER on the primary for every host of
Moodle's account, then $CFG->dbpass in config.php); Moodle (moodle-probe: config.php, through
the VIP) can no longer log in; a config.php with a typo is refused before anything changes;
`proxysql sync` gives both nodes the new password and Moodle works again; a second run has
nothing to change. The password never shows in the output or the wizard's files.

Its own migration (test_migration_cluster's `migrated` fixture, rolled back at the end); the
old password is put back everywhere first (config.php byte for byte, so the cutover's
rollback recognises its own file, the account, and ProxySQL by a sync).
"""

from __future__ import annotations

import re
import secrets

from tests.lab import test_migration_cluster as cluster
from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import CONFIG, PROXIES, VIP, Migrated, admin_query, probe
from tests.lab.wizard import sql

migrated = cluster.migrated  # a migration of this module's own
_DBPASS = re.compile(r"(\$CFG->dbpass\s*=\s*')([^'\\]*)(';)")


def _with_password(config: str, password: str) -> str:
    edited, n = _DBPASS.subn(lambda m: m.group(1) + password + m.group(3), config)
    assert n == 1, "config.php has one $CFG->dbpass line"
    return edited


def _write_config(lab: Lab, text: str) -> None:
    # In place, as an editor would save it: owner, group and mode stay.
    lab.exec("app", "sh", "-c", 'cat > "$0"', CONFIG, input=text.encode())


def _alter_moodle_user(lab: Lab, password: str) -> None:
    """Moodle's password on the primary for every host its account has (sent on stdin)."""
    hosts = [r[0] for r in sql(lab, "db1", "SELECT host FROM mysql.user WHERE user = "
                                           "'moodleuser'")]
    assert hosts
    lab.exec("db1", "mariadb", input="".join(
        f"ALTER USER 'moodleuser'@'{h}' IDENTIFIED BY '{password}';\n" for h in hosts).encode())


def _users_checksums(lab: Lab, m: Migrated) -> dict[str, str]:
    return {px: admin_query(lab, px, m.secrets["proxysql_admin_password"],
                            "SELECT checksum FROM runtime_checksums_values WHERE name = "
                            "'mysql_users'")[0][0] for px in PROXIES}


def test_sync_after_a_moodle_password_change(running_lab: Lab, migrated: Migrated) -> None:
    lab, wizard = running_lab, migrated.wizard
    config = lab.exec("app", "cat", CONFIG).stdout
    match = _DBPASS.search(config)
    assert match is not None
    old, new = match.group(2), "Sync" + secrets.token_hex(10)
    typo = new + "x"
    checksums_before = _users_checksums(lab, migrated)
    try:
        _alter_moodle_user(lab, new)
        # A typo in config.php: refused before anything changes.
        _write_config(lab, _with_password(config, typo))
        refused = wizard("proxysql", "sync")
        text = refused.stdout + refused.stderr
        assert refused.returncode == 1, text
        assert "cannot log in to the primary db1 from px1" in text, text
        assert "nothing was changed" in text and typo not in text
        assert _users_checksums(lab, migrated) == checksums_before

        _write_config(lab, _with_password(config, new))
        failed = lab.exec("app", "moodle-probe", check=False)
        assert failed.returncode == 2 and "Access denied" in failed.stderr, failed.stderr

        plan = wizard("proxysql", "sync", "--plan")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        for px in PROXIES:
            assert f"{px}: mysql_users: another password" in plan.stdout, plan.stdout
        assert "LOAD MYSQL USERS TO RUNTIME" in plan.stdout and new not in plan.stdout
        assert _users_checksums(lab, migrated) == checksums_before  # --plan changed nothing

        synced = wizard("proxysql", "sync")
        text = synced.stdout + synced.stderr
        assert synced.returncode == 0, text
        took = re.search(r"^proxysql sync: done in [0-9.]+ s$", synced.stdout, re.MULTILINE)
        assert took is not None, synced.stdout
        print(f"\n{took.group()}")
        assert new not in text
        for px in PROXIES:
            assert re.search(rf"^  {px}: .*another password.* -> changed$", synced.stdout,
                             re.MULTILINE), synced.stdout
        written = probe(lab)  # Moodle's own login, through the VIP, with the new password
        assert written["via"] == f"{VIP}:6033" and written["host"] == "db1", written
        after = _users_checksums(lab, migrated)
        assert len(set(after.values())) == 1 and after != checksums_before, after

        again = wizard("proxysql", "sync")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "nothing to change; nothing was changed" in again.stdout, again.stdout
        assert _users_checksums(lab, migrated) == after
        history = wizard.state()["cluster"]["history"]
        assert [(h["kind"], h["target"], h["status"]) for h in history] == [
            ("proxysql sync", "px1, px2", "done")]
        # Neither password in the journal, the audit log or the bug log.
        leaked = lab.exec("jump", "grep", "-rlF", "-e", new, "-e", typo, wizard.state_dir,
                          check=False)
        assert leaked.returncode == 1, leaked.stdout
    finally:
        _alter_moodle_user(lab, old)
        _write_config(lab, config)
        back = wizard("proxysql", "sync")
        assert back.returncode == 0, back.stdout + back.stderr
    assert probe(lab)["via"] == f"{VIP}:6033"
    assert lab.exec("app", "cat", CONFIG).stdout == config
