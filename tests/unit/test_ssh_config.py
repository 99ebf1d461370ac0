"""~/.ssh/config as `ssh NAME` reads it (core/remote/sshconfig.py, issue 17 item 3): the
inventory's explicit ssh_user/ssh_port win; unset, the config's User/Port apply; `Host` lines
match the inventory's name and still its address, the first value obtained winning in file
order; asyncssh gets the same config with the address, port and user pinned."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.remote import sshconfig
from moodle_wizard.core.remote.errors import RemoteError
from moodle_wizard.core.remote.ssh import SshTarget
from moodle_wizard.core.remote.sshconfig import (
    NonRootDatabaseHost,
    for_connection,
    refuse_non_root_database,
    resolve,
)

CONFIG = """\
# the address block comes first: its Port is the first value obtained for db2
Host 10.0.0.12
    Port 2222

Host db1
    User deploy
    Port 2200
    IdentityFile ~/.ssh/id_%n

Host db2
    User carol
    Port 2022

Host web
    HostName 10.0.0.99
    ProxyJump bastion

Host 10.0.0.20
    IdentityFile ~/.ssh/web_by_address

Host bastion
    HostName 10.0.0.5
    User jumper

Host loop
    ProxyJump loop2
Host loop2
    ProxyJump loop

Host * !db3
    ServerAliveInterval 5
"""


@pytest.fixture
def config(tmp_path: Path) -> list[Path]:
    path = tmp_path / "config"
    path.write_text(CONFIG)
    return [path]


@pytest.fixture(autouse=True)
def local_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # ssh's last resort is the local user; the wizard runs as root
    monkeypatch.setattr(getpass, "getuser", lambda: "root")


def test_the_config_applies_to_what_the_inventory_leaves_unset(config: list[Path]) -> None:
    target = resolve("db1", "10.0.0.11", paths=config)
    assert (target.address, target.port, target.user) == ("10.0.0.11", 2200, "deploy")
    assert target.sudo


def test_an_explicit_inventory_value_wins(config: list[Path]) -> None:
    target = resolve("db1", "10.0.0.11", user="root", port=22, paths=config)
    assert (target.port, target.user, target.sudo) == (22, "root", False)
    assert resolve("db1", "10.0.0.11", port=2300, paths=config).user == "deploy"


def test_host_is_matched_by_the_name_and_still_by_the_address(config: list[Path]) -> None:
    # Port: the address block comes first in the file (first value wins, as in ssh);
    # User: only the name's block sets it
    target = resolve("db2", "10.0.0.12", paths=config)
    assert (target.port, target.user) == (2222, "carol")
    # an address block alone still applies, as before
    assert resolve("other", "10.0.0.12", paths=config).port == 2222


def test_no_block_means_root_and_22(config: list[Path], tmp_path: Path) -> None:
    assert resolve("db3", "10.0.0.13", paths=config) == SshTarget("db3", "10.0.0.13")
    assert resolve("db3", "10.0.0.13", paths=[]) == SshTarget("db3", "10.0.0.13")


def test_a_negated_pattern_excludes_the_host(config: list[Path]) -> None:
    assert sshconfig.load("db3", "10.0.0.13", config).get("ServerAliveInterval") is None
    assert sshconfig.load("db4", "10.0.0.14", config).get("ServerAliveInterval") == 5


def test_a_proxyjump_naming_an_inventory_host_is_that_host(config: list[Path]) -> None:
    bastion = SshTarget("bastion", "10.0.0.5", port=2022, user="root")
    target = resolve("web", "10.0.0.20", paths=config,
                     known=lambda n: bastion if n == "bastion" else None)
    assert target.jump == bastion
    # the inventory's own jump wins over the config's ProxyJump
    other = SshTarget("other", "10.0.0.6")
    assert resolve("web", "10.0.0.20", jump=other, paths=config).jump == other


def test_a_proxyjump_loop_is_refused_in_one_line(config: list[Path]) -> None:
    with pytest.raises(RemoteError, match="ProxyJump"):
        resolve("loop", "10.0.0.30", paths=config)


def test_asyncssh_gets_the_config_with_address_port_and_user_pinned(
        config: list[Path]) -> None:
    target = SshTarget("db1", "10.0.0.11", port=22, user="root")
    pinned = for_connection(target, config)
    assert (pinned.get("Hostname"), pinned.get("Port"), pinned.get("User")) == (
        "10.0.0.11", 22, "root")
    assert pinned.get("IdentityFile") == ["~/.ssh/id_db1"]  # %n: the inventory's name
    web = for_connection(resolve("web", "10.0.0.20", paths=config), config)
    assert web.get("ProxyJump") is None and web.get("Hostname") == "10.0.0.20"
    # the block for the inventory's address applies too
    assert web.get("IdentityFile") == ["~/.ssh/web_by_address"]


def test_the_inventorys_address_wins_over_a_hostname_in_the_config(config: list[Path]) -> None:
    """ProxySQL, keepalived and the replicas use the inventory's address: SSH must reach that
    machine, not the one a `Host web` block's HostName names (the lab's jump host has such
    blocks for every lab host; a test that moved db3 to another address still reached it)."""
    assert resolve("web", "10.0.0.20", paths=config).address == "10.0.0.20"
    # A ProxyJump hop that is no inventory host has only the config's HostName.
    assert resolve("web", "10.0.0.20", paths=config).jump == SshTarget(
        "bastion", "10.0.0.5", port=22, user="jumper")


def test_a_bad_config_line_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("Host db1\n    Port many\n")
    with pytest.raises(RemoteError, match=r"db1: cannot read the SSH config .*ssh -G db1"):
        resolve("db1", "10.0.0.11", paths=[path])


def test_a_database_host_reached_as_another_user_is_refused() -> None:
    refuse_non_root_database(SshTarget("px2", "10.0.0.21", user="deploy"), database=False)
    refuse_non_root_database(SshTarget("db1", "10.0.0.11"), database=True)
    with pytest.raises(NonRootDatabaseHost, match=r'^db1: .* deploy, not root.*ssh_user = '
                                                  r'"root" for db1 in the inventory$'):
        refuse_non_root_database(SshTarget("db1", "10.0.0.11", user="deploy"), database=True)


INVENTORY = """
[migration]
name = "site1"
[hosts.db1]
address = "10.0.0.11"
role = "source"
[hosts.db2]
address = "10.0.0.12"
role = "replica"
ssh_user = "root"
ssh_port = 22
[hosts.app]
address = "10.0.0.10"
role = "app"
"""


def test_the_context_resolves_inventory_hosts_through_home_ssh_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(
        "Host app\n    User deploy\nHost db2\n    User carol\n    Port 2022\n"
        "Host db1\n    Port 2201\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    inv = Inventory.model_validate(tomllib.loads(INVENTORY))
    assert inv.hosts["db1"].ssh_user is None and inv.hosts["db1"].ssh_port is None
    ctx = Context(inv, None, None, None, None, None, None, None)  # type: ignore[arg-type]
    assert ctx.target("app") == SshTarget("app", "10.0.0.10", user="deploy")
    # an old inventory's explicit root and 22 keep it exactly as before
    assert ctx.target("db2") == SshTarget("db2", "10.0.0.12")
    assert ctx.target("db1") == SshTarget("db1", "10.0.0.11", port=2201)


async def test_a_database_host_that_the_config_makes_non_root_is_refused_before_connecting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host db1 app\n    User deploy\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    inv = Inventory.model_validate(tomllib.loads(INVENTORY))
    # no pool: a connection attempt would fail with another error than the refusal
    ctx = Context(inv, None, None, None, None, None, None, None)  # type: ignore[arg-type]
    with pytest.raises(NonRootDatabaseHost, match=r"^db1: it is a database host reached as "
                                                  "deploy"):
        await ctx.host("db1")
    with pytest.raises(AttributeError):  # app is allowed: it goes on to the (missing) pool
        await ctx.host("app")
