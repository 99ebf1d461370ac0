from __future__ import annotations

from pathlib import Path

import pytest

from moodle_wizard.core.inventory import InventoryError, SeedMethod, load_inventory
from moodle_wizard.core.inventory_parts import rate_bytes

GOOD = """
[migration]
name = "site1"
backup_method = "logical"

[secrets]
file = "/etc/mw-secrets.toml"

[hosts.db1]
address = "10.0.0.11"
role = "source"

[hosts.db2]
address = "10.0.0.12"
role = "replica"
server_id = 12

[hosts.app]
address = "app.example.org"
role = "app"
ssh_user = "deploy"
ssh_port = 2222
ssh_jump = "jump"

[hosts.jump]
address = "10.0.0.5"
role = "jump"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


def test_a_good_inventory_loads_with_its_roles(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    assert inv.source == "db1"
    assert inv.replicas == ["db2"]
    assert inv.apps == ["app"]
    assert inv.migration.backup_method is SeedMethod.LOGICAL
    assert inv.hosts["app"].ssh_port == 2222
    assert inv.migration.source_restart == "ask"


@pytest.mark.parametrize(("change", "message"), [
    (('address = "10.0.0.12"', 'address = "10.0.0.11"'), "same machine (10.0.0.11)"),
    (('role = "replica"', 'role = "source"'), "exactly one host with role = \"source\""),
    (('backup_method = "logical"', 'backup_method = "tape"'), "migration.backup_method"),
    (('name = "site1"', 'name = "site1"\ncolour = "red"'), "migration.colour: unknown setting"),
    (('ssh_jump = "jump"', 'ssh_jump = "bastion"'), "'bastion' is not a host"),
    (('server_id = 12', 'server_id = 0'), "hosts.db2.server_id"),
    (('ssh_user = "deploy"', 'ssh_user = "de ploy; rm -rf /"'), "not a valid user name"),
    (('address = "app.example.org"', 'address = "app;reboot"'), "neither an IP address"),
    (('name = "site1"', 'name = "../etc"'), "migration.name"),
])
def test_bad_inventories_are_refused_with_one_clear_message(
        tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(InventoryError, match=r"^inventory ") as err:
        load_inventory(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[migration\nname=")
    with pytest.raises(InventoryError, match="is not valid TOML"):
        load_inventory(path)


def test_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="lab inventory"):
        load_inventory(tmp_path / "nope.toml")


def test_duplicate_server_ids_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace('[hosts.db1]\naddress = "10.0.0.11"',
                        '[hosts.db1]\naddress = "10.0.0.11"\nserver_id = 12')
    with pytest.raises(InventoryError, match="server_id 12 is given to db1 and db2"):
        load_inventory(write(tmp_path, text))


@pytest.mark.parametrize(("change", "message"), [
    (('ssh_user = "deploy"', 'ssh_user = "deploy$(id)"'), "not a valid user name"),
    (('ssh_user = "deploy"', 'ssh_user = "`id`"'), "not a valid user name"),
    (('address = "app.example.org"', 'address = "app.example.org`id`"'), "neither an IP"),
    (('address = "app.example.org"', 'address = "-oProxyCommand=sh"'), "neither an IP"),
    (('backup_method = "logical"', 'backup_method = "logical"\nmoodle_config = '
      '"/var/www/x;rm -rf ~/config.php"'), "not a plain absolute path"),
    (('backup_method = "logical"', 'backup_method = "logical"\nmoodle_config = '
      '"/var/www/$(id)/config.php"'), "not a plain absolute path"),
    (('backup_method = "logical"', 'backup_method = "logical"\nmoodle_config = '
      '"/var/www/../../etc/shadow"'), "not a plain absolute path"),
    (('backup_method = "logical"', 'backup_method = "logical"\nreplication_user = '
      '"repl\'@\'%"'), "migration.replication_user"),
])
def test_shell_and_sql_metacharacters_are_refused(
        tmp_path: Path, change: tuple[str, str], message: str) -> None:
    """Issue 6: names and paths that reach a shell or SQL cannot carry metacharacters."""
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(InventoryError, match=r"^inventory ") as err:
        load_inventory(path)
    assert message in str(err.value)


# -- issue 12 item 1: Moodle and its database on one server ---------------------------------

SINGLE_SERVER = GOOD.replace('''[hosts.db1]
address = "10.0.0.11"
role = "source"''', '''[hosts.db1]
address = "10.0.0.11"
roles = ["source", "app"]''').split("[hosts.app]")[0] + '''[hosts.jump]
address = "10.0.0.5"
role = "jump"
'''


def test_one_host_may_be_the_source_and_the_app_server(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, SINGLE_SERVER))
    assert inv.source == "db1"
    assert inv.apps == ["db1"]
    assert inv.replicas == ["db2"]


@pytest.mark.parametrize(("roles", "why"), [
    ('roles = ["source", "replica"]', r'only two roles one host may play are \["source", "app"\]'),
    ('roles = ["source"]', r'only two roles one host may play'),
    ('role = "source"\nroles = ["source", "app"]', "not both or neither"),
])
def test_other_role_pairs_are_refused_clearly(tmp_path: Path, roles: str, why: str) -> None:
    text = SINGLE_SERVER.replace('roles = ["source", "app"]', roles)
    with pytest.raises(InventoryError, match=why):
        load_inventory(write(tmp_path, text))


def test_a_host_without_a_role_is_refused(tmp_path: Path) -> None:
    text = SINGLE_SERVER.replace('roles = ["source", "app"]\n', "")
    with pytest.raises(InventoryError, match="not both or neither"):
        load_inventory(write(tmp_path, text))


def _with(extra_migration: str = "", tail: str = "", hosts: str = "") -> str:
    return (f'[migration]\nname = "t"\n{extra_migration}\n'
            '[hosts]\ndb1 = { address = "10.0.0.1", role = "source" }\n'
            'db2 = { address = "10.0.0.2", role = "replica" }\n'
            'app = { address = "10.0.0.3", role = "app" }\n' + hosts + tail)


@pytest.mark.parametrize(("migration", "tail", "hosts", "message"), [
    ('backup_method = "existing"', "", "", r'needs a \[backup\] section'),
    ("", '[backup]\nhost = "db1"\npath = "/b"\n', "",
     r'only used with backup_method = "existing"'),
    ('backup_method = "existing"', '[backup]\nhost = "nas"\npath = "/b"\n', "",
     r"'nas' is not a host in this inventory; add it under \[hosts\] with role = \"backup\""),
    ('backup_method = "existing"', '[backup]\nhost = "app"\npath = "/b"\n', "",
     r"plays app; a backup is read on the source or on a host with role = \"backup\""),
    ('backup_method = "existing"', '[backup]\nhost = "db1"\npath = "b/../c"\n', "",
     r"backup.path: 'b/../c' is not a plain absolute path"),
    ('stream_limit = "fast"', "", "", r"'fast' is not a rate: write it as \"100MB/s\""),
    ('stream_limit = "0MB/s"', "", "", r"is not a rate"),
])
def test_backup_and_stream_limit_mistakes_are_one_clear_line(
        tmp_path: Path, migration: str, tail: str, hosts: str, message: str) -> None:
    path = tmp_path / "inv.toml"
    path.write_text(_with(migration, tail, hosts))
    with pytest.raises(InventoryError, match=message):
        load_inventory(path)


def test_an_existing_backup_on_a_backup_host_and_a_stream_limit(tmp_path: Path) -> None:
    path = tmp_path / "inv.toml"
    path.write_text(_with('backup_method = "existing"\nstream_limit = "50MB/s"',
                          '[backup]\nhost = "nas"\npath = "/srv/backups/moodle"\n',
                          'nas = { address = "10.0.0.9", role = "backup" }\n'))
    inv = load_inventory(path)
    assert inv.backup_host == "nas" and inv.backup is not None
    assert inv.backup.path == "/srv/backups/moodle"
    assert inv.migration.stream_limit_bytes == 50_000_000
    assert rate_bytes("1.5GiB/s") == int(1.5 * 2**30) and rate_bytes("800 kB/s") == 800_000
