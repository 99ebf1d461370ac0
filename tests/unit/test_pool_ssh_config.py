"""The pool against a real SSH server on loopback (asyncssh's own): ~/.ssh/config's `Host`
block for the inventory's name gives the user, port and key; the host key is looked up for
that port; a non-root user's commands arrive through `sudo -n`, checked first."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
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


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "root")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "bob_key"
    client_key.write_private_key(str(key_file))
    seen = Server()

    class _Auth(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            seen.users.append(username)
            return True

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            return username == "bob" and key.public_data == client_key.public_data

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
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    (ssh / "config").write_text(f"Host srv\n    User bob\n    Port {seen.port}\n"
                                f"    IdentityFile {key_file}\n    IdentitiesOnly yes\n")
    public = host_key.export_public_key().decode().split()
    (ssh / "known_hosts").write_text(f"[srv]:{seen.port} {public[0]} {public[1]}\n")
    try:
        yield seen
    finally:
        listener.close()
        await listener.wait_closed()


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
