"""The pool against a real SSH server on loopback (asyncssh's own): ~/.ssh/config's `Host`
block for the inventory's name gives the user, port and key; the host key is looked up for
that port; a non-root user's commands arrive through `sudo -n`, checked first."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from moodle_wizard.core.remote.errors import NoSudo
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.remote.sshconfig import resolve


@dataclass
class Server:
    port: int = 0
    sudo_status: int = 0
    users: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    tunnels: list[tuple[str, int]] = field(default_factory=list)
    known: str = ""


CLIENT_KEY = asyncssh.generate_private_key("ssh-ed25519")


@asynccontextmanager
async def _server(name: str) -> AsyncIterator[Server]:
    """An SSH server on loopback that lets bob in with CLIENT_KEY and opens tunnels."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = CLIENT_KEY
    seen = Server()

    class _Auth(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            seen.users.append(username)
            return True

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            return username == "bob" and key.public_data == client_key.public_data

        def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                                 orig_port: int) -> bool:
            seen.tunnels.append((dest_host, dest_port))
            return True

    def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        seen.commands.append(command)
        if command == "sudo -n true":
            process.exit(seen.sudo_status)
        else:
            process.stdout.write("ran\n")
            process.exit(0)

    listener = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[host_key],
                                     server_factory=_Auth, process_factory=handle)
    seen.port = listener.get_port()
    public = host_key.export_public_key().decode().split()
    seen.known = f"[{name}]:{seen.port} {public[0]} {public[1]}\n"
    try:
        yield seen
    finally:
        listener.close()
        await listener.wait_closed()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "root")
    CLIENT_KEY.write_private_key(str(tmp_path / "bob_key"))
    (tmp_path / ".ssh").mkdir()
    return tmp_path


@pytest.fixture
async def server(home: Path) -> AsyncIterator[Server]:
    async with _server("srv") as seen:
        (home / ".ssh" / "config").write_text(
            f"Host srv\n    User bob\n    Port {seen.port}\n"
            f"    IdentityFile {home / 'bob_key'}\n    IdentitiesOnly yes\n")
        (home / ".ssh" / "known_hosts").write_text(seen.known)
        yield seen


async def test_a_proxyjump_hop_is_a_target_of_its_own_checked_the_same_way(
        home: Path) -> None:
    async with _server("bastion") as bastion, _server("db9") as db9:
        (home / ".ssh" / "config").write_text(
            f"Host db9\n    Port {db9.port}\n    ProxyJump bastion\n\n"
            f"Host bastion\n    HostName 127.0.0.1\n    Port {bastion.port}\n\n"
            f"Host *\n    User bob\n    IdentityFile {home / 'bob_key'}\n")
        (home / ".ssh" / "known_hosts").write_text(bastion.known + db9.known)
        target = resolve("db9", "127.0.0.1")
        assert target.jump is not None and target.jump.port == bastion.port
        async with SshPool(HostKeyPolicy(home / ".ssh" / "known_hosts")) as pool:
            host = await pool.connect(target)
            await host.run(["true"])
    # db9 was reached through a tunnel from bastion (each key checked from known_hosts, as
    # [bastion]:PORT and [db9]:PORT: neither has an entry for any other name)
    assert bastion.tunnels == [("127.0.0.1", db9.port)]
    assert bastion.commands == ["sudo -n true"] and db9.commands[0] == "sudo -n true"


async def test_the_host_block_gives_user_port_and_key_and_commands_go_through_sudo(
        server: Server, tmp_path: Path) -> None:
    target = resolve("srv", "127.0.0.1")
    assert (target.user, target.port) == ("bob", server.port)
    async with SshPool(HostKeyPolicy(tmp_path / ".ssh" / "known_hosts")) as pool:
        host = await pool.connect(target)
        out = await host.run(["echo", "hi"], input="a secret")
    assert out.stdout == "ran\n"
    assert set(server.users) == {"bob"}
    assert server.commands == ["sudo -n true",
                               "sudo -n -- timeout -k 5 600.000 sh -c '\"$@\"' sh echo hi"]


async def test_no_passwordless_sudo_is_refused_when_connecting(
        server: Server, tmp_path: Path) -> None:
    server.sudo_status = 1
    async with SshPool(HostKeyPolicy(tmp_path / ".ssh" / "known_hosts")) as pool:
        with pytest.raises(NoSudo, match="give bob passwordless sudo on srv"):
            await pool.connect(resolve("srv", "127.0.0.1"))
    assert server.commands == ["sudo -n true"]
