"""`lab up --backup nightly|purged` (issue 16 item 4), pure parts: the backup host in the shape
and the inventories, db1's binary log, the backup host's script, Moodle's writes after the
backups, and reading the backups' GTID positions."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from moodle_wizard.core.inventory import Role, SeedMethod, load_inventory
from moodle_wizard.lab import backup, provision, replicas
from moodle_wizard.lab.inventory_file import inventory_text
from moodle_wizard.lab.lab import LabState, check_same_shape
from moodle_wizard.lab.moodle_data import DataPlan
from moodle_wizard.lab.system import LabError
from moodle_wizard.lab.topology import (
    ALL_HOST_NAMES,
    HOSTS,
    Shape,
    Topology,
    TopologyError,
    veth_name,
)

LABDIR = Path("/srv/mwlab-unit")
NIGHTLY = Shape(backup="nightly")
PURGED = Shape(backup="purged")


def test_the_backup_shapes_add_a_backup_host_and_turn_db1s_binary_log_on() -> None:
    assert Shape().hosts() == HOSTS and not Shape().has_backup
    for shape in (NIGHTLY, PURGED, Shape("single-server", backup="nightly")):
        topo = Topology.from_cidr(shape=shape)
        assert topo.host_names[-1] == "backup" and topo.host_address("backup") == "10.77.0.30"
        assert topo.host("backup").role == "backup"
        assert shape.private_usr_of(topo.host("backup"))
        assert not shape.private_usr_of(topo.host("db2"))  # empty replicas share the /usr
        assert "log_bin = /var/log/mysql/mysql-bin.log" in provision.db1_script(topo)
        assert "server_id = 1" in provision.db1_script(topo)
    assert Shape(replicas="bare").private_usr_of(Topology.from_cidr().host("db2"))
    assert "backup" in ALL_HOST_NAMES and len(veth_name("backup")) <= 15
    assert "log_bin" not in provision.db1_script(Topology.from_cidr())
    assert "binary log on" in Topology.from_cidr(shape=NIGHTLY).host("db1").description
    addresses = [Topology.from_cidr(shape=Shape(app_hosts=2, backup="purged")).host_address(n)
                 for n in ("app2", "backup")]
    assert addresses == ["10.77.0.20", "10.77.0.30"]


def test_the_option_is_checked_named_and_remembered(tmp_path: Path) -> None:
    assert NIGHTLY.options() == "--backup nightly"
    assert PURGED.describe().endswith(", backups purged on backup")
    assert Shape().describe() == Shape(backup="none").describe()
    with pytest.raises(TopologyError, match="--backup 'weekly': choose one of none, nightly, "
                                            "purged"):
        Shape(backup="weekly").check()
    with pytest.raises(LabError, match="already up in `lab up --backup nightly`"):
        check_same_shape(NIGHTLY, PURGED)
    LabState("10.77.0.0/24", 50, "stand-in", backup="purged").save(tmp_path)
    state = LabState.load(tmp_path)
    assert state is not None and state.shape == PURGED


def inventory_file(tmp_path: Path, text: str, name: str = "inv.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_inventories_list_the_backup_host_and_seed_from_each_backup(tmp_path: Path) -> None:
    topo = Topology.from_cidr(shape=NIGHTLY)
    plain = load_inventory(inventory_file(tmp_path, inventory_text(topo, LABDIR)))
    assert plain.migration.backup_method == SeedMethod.PHYSICAL and plain.backup is None
    assert tuple(plain.hosts["backup"].plays) == (Role.BACKUP,)
    assert plain.hosts["backup"].address == "10.77.0.30"
    written = backup.write_inventories(topo, tmp_path)
    assert [p.name for p in written] == ["inventory-existing.toml",
                                         "inventory-existing-dump.toml"]
    for path, want in zip(written, (backup.NIGHTLY_DIR, backup.NIGHTLY_DUMP), strict=True):
        inv = load_inventory(path)
        assert inv.migration.backup_method == SeedMethod.EXISTING
        assert inv.backup is not None and (inv.backup.host, inv.backup.path) == ("backup", want)
        raw = tomllib.loads(path.read_text())
        assert raw["hosts"] == tomllib.loads(inventory_text(topo, LABDIR))["hosts"]
    default = inventory_text(Topology.from_cidr(), LABDIR)
    assert "[backup]" not in default and 'backup_method = "physical"' in default


def test_the_backup_host_script_installs_the_tools_and_no_server(tmp_path: Path) -> None:
    script = backup.host_script(LABDIR)
    assert script.startswith(replicas.bare_script(LABDIR))  # the server purged, its own /usr
    assert re.search(r"apt-get install -y -q --no-install-recommends mariadb-backup "
                     r"mariadb-client ", script)
    assert "mariadb-server" not in script.split(replicas.bare_script(LABDIR), 1)[1]
    assert f"install -d -m 0700 {backup.BACKUP_ROOT}\n" in script
    assert backup.BACKUP_ROOT.startswith("/var/")  # the host's own overlay, not the machine's
    for text in (script, backup.db1_binlog_script()):
        subprocess.run(["sh", "-n"], input=text.encode(), check=True)


def test_moodles_writes_after_the_backups_are_transactions_in_several_tables() -> None:
    plan = DataPlan.for_megabytes(5)
    sql = backup.writes_sql(plan, 300, 1_760_000_000)
    transactions = sql.splitlines()[1:]
    assert len(transactions) == 300
    assert all(t.startswith("BEGIN; ") and t.endswith(" COMMIT;") for t in transactions)
    tables = set(re.findall(r"(?:INSERT INTO|UPDATE) (mdl_\w+)", sql))
    assert tables == {"mdl_logstore_standard_log", "mdl_user", "mdl_sessions",
                      "mdl_grade_grades", "mdl_course_modules"}
    users = {int(u) for u in re.findall(r"UPDATE mdl_user .* WHERE id = (\d+);", sql)}
    assert users == set(range(1, plan.users + 1))  # every student, none made up
    items = {int(i) for i in re.findall(r"AND itemid = (\d+);", sql)}
    assert items <= set(range(1, 6))  # the grade items data_sql made (users * 5 grades)
    # Nothing with a unique key is inserted: a rerun after a failed `lab up` cannot collide.
    assert "INSERT INTO mdl_user" not in sql and "INSERT INTO mdl_sessions" not in sql
    assert "'\\\\core\\\\event\\\\course_viewed'" in sql
    times = [int(t) for t in re.findall(r"SET lastaccess = (\d+)", sql)]
    assert times == sorted(times) and times[-1] == 1_760_000_000 and times[0] == 1_760_000_000 - 29


def test_the_backups_positions_are_read_as_mariadb_writes_them() -> None:
    assert backup.binlog_info_gtid("mysql-bin.000001\t2641632\t0-1-18\n") == "0-1-18"
    with pytest.raises(LabError, match="no GTID position"):
        backup.binlog_info_gtid("mysql-bin.000001\t2641632\n")
    assert backup.dump_gtid("-- SET GLOBAL gtid_slave_pos='0-1-18';\n") == "0-1-18"
    with pytest.raises(LabError, match="no gtid_slave_pos"):
        backup.dump_gtid("")
    assert backup.gtid_list("[0-1-21]") == "0-1-21" and backup.gtid_list("[]") == ""
    assert backup.behind("0-1-18", "0-1-3018")
    assert not backup.behind("0-1-3018", "0-1-3018")
    assert not backup.behind("0-1-3018", "0-1-18")
    assert backup.binlogs_reach("0-1-18", "")          # the first binary log ever
    assert backup.binlogs_reach("0-1-18", "0-1-18")
    assert not backup.binlogs_reach("0-1-18", "0-1-3019")


def taken(kind: str, earliest: str) -> backup.Backups:
    return backup.Backups(kind, backup.NIGHTLY_DIR, 90_000_000, backup.NIGHTLY_DUMP, 9_000_000,
                          "0-1-40", "0-1-40", "0-1-3040", 3000, "mysql-bin.000001", earliest,
                          1.5, 4.2)


def test_the_summary_and_the_checks_tell_nightly_from_purged(tmp_path: Path) -> None:
    nightly, purged = taken("nightly", ""), taken("purged", "0-1-3040")
    text = "\n".join(backup.summary_lines(nightly, [tmp_path / "inventory-existing.toml"]))
    assert "90.0 MB, GTID 0-1-40" in text and "db1 now at GTID 0-1-3040" in text
    assert "reaches back to the backups" in text
    assert f"seeding from {backup.NIGHTLY_DIR}: {tmp_path}/inventory-existing.toml" in text
    assert "PURGED past the backups" in "\n".join(backup.summary_lines(purged, []))
    backup._check(nightly)
    backup._check(purged)
    with pytest.raises(LabError, match="should not reach back"):
        backup._check(taken("purged", ""))
    with pytest.raises(LabError, match="should reach back"):
        backup._check(taken("nightly", "0-1-3040"))
    stale = taken("nightly", "")
    stale.db1_gtid = "0-1-40"
    with pytest.raises(LabError, match="is not behind db1's 0-1-40"):
        backup._check(stale)


def test_what_was_taken_is_recorded_in_the_lab_directory(tmp_path: Path) -> None:
    assert backup.Backups.load(tmp_path) is None
    taken("nightly", "").save(tmp_path)
    assert backup.Backups.load(tmp_path) == taken("nightly", "")
    (tmp_path / backup.RECORD).write_text(json.dumps({"kind": "nightly"}))
    assert backup.Backups.load(tmp_path) is None  # another version's record: taken again
