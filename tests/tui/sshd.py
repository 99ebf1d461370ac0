"""Real SSH servers in the test process, one per host, each with its own host key.

They accept any client (no authentication) and run each command with this machine's shell,
so the engine's real SSH layer - host-key policy, known_hosts, the command wrapper - and the
real PHP reading a config.php all run as they do against a site. Only for the tests that
check connections; nothing here can reach the lab.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncssh

CONFIG_PHP = """<?php  // Moodle configuration file
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype    = 'mariadb';
$CFG->dblibrary = 'native';
$CFG->dbhost    = '127.0.0.1';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodleuser';
$CFG->dbpass    = 'S3cret-from-config';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '@PORT@', 'dbsocket' => '');
$CFG->wwwroot   = 'http://app.example/moodle';
$CFG->dataroot  = '/var/moodledata';
require_once(__DIR__ . '/lib/setup.php');
"""


class _NoAuth(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


async def _run_locally(process: asyncssh.SSHServerProcess[bytes]) -> None:
    command = process.command or "true"
    local = await asyncio.create_subprocess_shell(
        command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert local.stdin and local.stdout and local.stderr

    async def feed() -> None:
        assert local.stdin is not None
        with suppress(asyncssh.Error, BrokenPipeError, ConnectionResetError):
            while chunk := await process.stdin.read(65536):
                local.stdin.write(chunk)
                await local.stdin.drain()
        local.stdin.close()

    async def pump(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
        while chunk := await source.read(65536):
            sink.write(chunk)

    feeder = asyncio.ensure_future(feed())
    await asyncio.gather(pump(local.stdout, process.stdout), pump(local.stderr, process.stderr))
    status = await local.wait()
    feeder.cancel()
    process.exit(status)


@dataclass
class FakeHost:
    name: str
    port: int
    key: asyncssh.SSHKey

    @property
    def fingerprint(self) -> str:
        return str(self.key.get_fingerprint("sha256"))

    def known_hosts_line(self) -> str:
        public = self.key.export_public_key().decode().split()[:2]
        return f"[{self.name}]:{self.port},[127.0.0.1]:{self.port} {' '.join(public)}"


@asynccontextmanager
async def ssh_hosts(names: list[str]) -> AsyncIterator[dict[str, FakeHost]]:
    servers = []
    hosts = {}
    try:
        for name in names:
            key = asyncssh.generate_private_key("ssh-ed25519")
            server = await asyncssh.create_server(
                _NoAuth, "127.0.0.1", 0, server_host_keys=[key], process_factory=_run_locally,
                encoding=None)
            servers.append(server)
            port = server.sockets[0].getsockname()[1]
            hosts[name] = FakeHost(name, port, key)
        yield hosts
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


def inventory_for(hosts: dict[str, FakeHost], config_php: Path, *,
                  roles: dict[str, str]) -> str:
    lines = ['[migration]', 'name = "local"', f'moodle_config = "{config_php}"', ""]
    for name, host in hosts.items():
        lines += [f"[hosts.{name}]", 'address = "127.0.0.1"', f'role = "{roles[name]}"',
                  f"ssh_port = {host.port}", ""]
    return "\n".join(lines)
