"""The proxysql step's proof that the admin port is closed to other hosts (issue 10, item 11).

The hosts are faked, but the probe is the real script run by the real bash of this machine
against local ports (127.0.0.2 stands in for the node's address: loopback, not 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.steps import proxysql_verify
from moodle_wizard.core.steps.base import StepError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalHost:
    """Runs the probe here; `forced` answers for a (source, port) instead (a firewall)."""

    def __init__(self, name: str, forced: dict[tuple[str, int], str]) -> None:
        self.name, self.forced, self.runs = name, forced, 0

    async def run(self, argv: Sequence[str], **_: Any) -> Result:
        self.runs += 1
        port = int(argv[-1])
        if (self.name, port) in self.forced:
            return Result(0, self.forced[(self.name, port)] + "\n", "")
        proc = await asyncio.to_thread(subprocess.run, list(argv), capture_output=True,
                                       text=True, timeout=30)
        return Result(proc.returncode, proc.stdout, proc.stderr)


class Admin:
    def __init__(self, ifaces: str) -> None:
        self.ifaces = ifaces

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, str]]:
        assert "admin-mysql_ifaces" in sql
        return [{"v": self.ifaces}]


def make_step(admin_port: int, client_port: int, ifaces: str,
              forced: dict[tuple[str, int], str] | None = None) -> Any:
    inventory = Inventory.model_validate({
        "migration": {"name": "t"},
        "hosts": {"db1": {"address": "10.0.0.1", "role": "source"},
                  "db2": {"address": "10.0.0.2", "role": "replica"},
                  "app": {"address": "10.0.0.3", "role": "app"},
                  "px1": {"address": "127.0.0.2", "role": "proxy"},
                  "px2": {"address": "10.0.0.22", "role": "proxy"}},
        "proxysql": {"admin_port": admin_port, "client_port": client_port},
    })
    hosts = {n: LocalHost(n, forced or {}) for n in inventory.hosts}

    async def host(name: str) -> LocalHost:
        return hosts[name]

    async def admin(px: str) -> Admin:
        return Admin(ifaces)

    ctx = SimpleNamespace(inventory=inventory, host=host)
    return SimpleNamespace(ctx=ctx, cfg=inventory.proxysql, admin=admin, hosts=hosts)


@pytest.fixture
def client_listener() -> Iterator[int]:
    """ProxySQL's client port, open on every address (as mysql-interfaces is)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


async def test_a_refused_admin_port_passes_from_the_peer_and_the_app(
        client_listener: int) -> None:
    port = free_port()  # nothing listens: connection refused
    step = make_step(port, client_listener, f"127.0.0.1:{port}")
    await proxysql_verify.verify_admin_local(step, "px1")
    assert step.hosts["px2"].runs == 1 and step.hosts["app"].runs == 1


async def test_an_admin_port_open_to_the_network_fails(client_listener: int) -> None:
    with socket.socket() as s:  # the admin interface on 0.0.0.0, as ProxySQL starts
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 0))
        s.listen(8)
        port = int(s.getsockname()[1])
        step = make_step(port, client_listener, f"127.0.0.1:{port}")
        with pytest.raises(StepError, match=r"is not closed to px2.*open"):
            await proxysql_verify.verify_admin_local(step, "px1")


async def test_runtime_ifaces_other_than_loopback_fail(client_listener: int) -> None:
    port = free_port()
    step = make_step(port, client_listener, f"0.0.0.0:{port}")
    with pytest.raises(StepError, match=f"listens on 0.0.0.0:{port}, not 127.0.0.1:{port}"):
        await proxysql_verify.verify_admin_local(step, "px1")


async def test_a_filtered_port_counts_only_when_the_node_is_reachable(
        client_listener: int) -> None:
    port = free_port()
    filtered = {("px2", port): "timeout", ("app", port): "timeout"}
    step = make_step(port, client_listener, f"127.0.0.1:{port}", filtered)
    await proxysql_verify.verify_admin_local(step, "px1")  # the client port answers: filtered
    unreachable = {**filtered, ("px2", client_listener): "timeout"}
    step = make_step(port, client_listener, f"127.0.0.1:{port}", unreachable)
    with pytest.raises(StepError, match=r"not closed to px2 .*timeout"):
        await proxysql_verify.verify_admin_local(step, "px1")  # unknown is not success
