"""The SSH layer against the lab's real sshd: quoting, stdin, host keys, auth, jump, forwards."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncssh
import pytest

from moodle_wizard.core.remote.errors import (
    AuthFailed,
    ChangedHostKey,
    CommandFailed,
    CommandTimeout,
    UnknownHostKey,
    Unreachable,
)
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.remote.ssh import RemoteHost, SshTarget
from moodle_wizard.lab import lab
from tests.lab.conftest import Lab

KEY = str(lab.LABDIR / "ssh" / "id_ed25519")
LAB_KNOWN_HOSTS = lab.LABDIR / "ssh" / "known_hosts"


def target(running_lab: Lab, name: str, *, port: int = 22,
           jump: SshTarget | None = None) -> SshTarget:
    return SshTarget(name, running_lab.topo.host_address(name), port=port, jump=jump,
                     client_keys=(KEY,))


def known_hosts_copy(tmp_path: Path, *, without: tuple[str, ...] = ()) -> Path:
    """The lab's verified known_hosts, minus the lines of the hosts in `without`."""
    path = tmp_path / "known_hosts"
    lines = LAB_KNOWN_HOSTS.read_text().splitlines(keepends=True)
    path.write_text("".join(ln for ln in lines if ln.split(",")[0] not in without))
    return path


async def lab_exec(running_lab: Lab, host: str, *argv: str,
                   check: bool = True) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(running_lab.exec, host, *argv, check=check)


async def until(condition: Callable[[], Awaitable[bool]], what: str,
                timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def host_fingerprint(running_lab: Lab, host: str, tmp_path: Path) -> str:
    """What `ssh-keygen -lf` says of the host's own public key."""
    pub = tmp_path / f"{host}.pub"
    pub.write_text(running_lab.exec(host, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout)
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


@pytest.fixture
async def audit_log() -> list[tuple[str, str]]:
    return []


@pytest.fixture
async def pool(running_lab: Lab, tmp_path: Path,
               audit_log: list[tuple[str, str]]) -> AsyncIterator[SshPool]:
    policy = HostKeyPolicy(known_hosts_copy(tmp_path))
    async with SshPool(policy, audit=lambda h, t: audit_log.append((h, t)),
                       connect_timeout=5) as p:
        yield p


@pytest.fixture
async def db2(pool: SshPool, running_lab: Lab) -> RemoteHost:
    return await pool.connect(target(running_lab, "db2"))


NASTY = [
    "two words", "it's", 'say "hi"', "$(touch /tmp/pwned)", "`touch /tmp/pwned`", "$HOME",
    "back\\slash", "new\nline", "*", "; rm -rf /tmp/x", "-n", "ünïcødé", "", "  lead",
    "tab\there", "!bang", "a'b\"c$d`e\\f",
]


async def test_run_passes_nasty_values_through_exactly(
        db2: RemoteHost, audit_log: list[tuple[str, str]]) -> None:
    result = await db2.run(["printf", "%s\\0", *NASTY])
    assert result.stdout.split("\0")[:-1] == NASTY
    assert result.exit_status == 0
    assert (await db2.run(["test", "-e", "/tmp/pwned"], check=False)).exit_status == 1
    assert audit_log[-2][0] == "db2"
    assert audit_log[-2][1].startswith("printf ")


async def test_the_audit_hears_of_a_command_before_it_runs(
        pool: SshPool, running_lab: Lab, audit_log: list[tuple[str, str]]) -> None:
    flag = f"/tmp/mw-audit-{secrets.token_hex(4)}"

    def refuse(host: str, text: str) -> None:
        audit_log.append((host, text))
        if flag in text:
            raise RuntimeError("audit refused")

    strict = SshPool(pool.policy, audit=refuse)
    async with strict:
        host = await strict.connect(target(running_lab, "db2"))
        with pytest.raises(RuntimeError):
            await host.run(["touch", flag])
    assert (await lab_exec(running_lab, "db2", "test", "-e", flag, check=False)).returncode == 1


async def test_script_runs_with_sh_eu_and_failures_carry_status_and_stderr(
        db2: RemoteHost) -> None:
    ok = await db2.script('x=$(hostname)\necho "on $x"\necho warn >&2\n')
    assert (ok.stdout, ok.stderr) == ("on db2\n", "warn\n")
    with pytest.raises(CommandFailed) as failed:
        await db2.script("echo first\necho 'boom: it broke' >&2\nfalse\necho never\n")
    assert failed.value.exit_status == 1
    assert "boom: it broke" in failed.value.stderr
    assert "\n" not in str(failed.value) and str(failed.value).startswith("db2: ")
    with pytest.raises(CommandFailed):
        await db2.script('echo "$undefined_variable"\n')
    soft = await db2.run(["sh", "-c", "exit 7"], check=False)
    assert soft.exit_status == 7
    marker = f"mw-slow-{secrets.token_hex(4)}"
    with pytest.raises(CommandTimeout) as slow:
        await db2.run(["sh", "-c", f"sleep 30 & sleep 31; : {marker}"], timeout=0.3)
    assert "0.3 s" in str(slow.value)
    ps = await db2.run(["ps", "-eww", "-o", "stat=,args="])
    assert not [ln for ln in ps.stdout.splitlines() if marker in ln and not ln.startswith("Z")]
    assert "sleep 30" not in ps.stdout, "the command's children were stopped too"


async def test_stdin_never_shows_in_ps_nor_in_the_audit(
        db2: RemoteHost, running_lab: Lab, audit_log: list[tuple[str, str]]) -> None:
    secret = f"pw-{secrets.token_hex(8)}"
    tag = f"/tmp/mw-stdin-{secrets.token_hex(4)}"
    waiter = ('read -r line; touch "$1.ready"; '
              'while [ ! -e "$1.go" ]; do sleep 0.05; done; '
              'rm -f "$1.ready" "$1.go"; printf %s "$line"')
    task = asyncio.create_task(db2.run(["sh", "-c", waiter, "sh", tag], input=secret + "\n"))

    async def ready() -> bool:
        probe = await lab_exec(running_lab, "db2", "test", "-e", f"{tag}.ready", check=False)
        return probe.returncode == 0

    await until(ready, "the reader to take its stdin")
    ps = await lab_exec(running_lab, "db2", "ps", "-eww", "-o", "pid,args")
    assert tag in ps.stdout, "the reading process is running"
    assert secret not in ps.stdout
    await lab_exec(running_lab, "db2", "touch", f"{tag}.go")
    assert (await task).stdout == secret
    assert all(secret not in text for _, text in audit_log)


async def test_unknown_host_key_is_refused_with_its_fingerprint_then_accepted(
        running_lab: Lab, tmp_path: Path) -> None:
    fp = host_fingerprint(running_lab, "db2", tmp_path)
    known = known_hosts_copy(tmp_path, without=("db2", "db3"))
    known.chmod(0o640)
    before = known.read_text()
    asked: list[tuple[str, str]] = []

    async def say_no(host: str, fingerprint: str) -> bool:
        asked.append((host, fingerprint))
        return False

    async with SshPool(HostKeyPolicy(known, ask=say_no), connect_timeout=5) as pool:
        with pytest.raises(UnknownHostKey) as refused:
            await pool.connect(target(running_lab, "db2"))
    assert refused.value.fingerprint == fp
    assert asked == [("db2", fp)]
    message = str(refused.value)
    assert f"--accept-host-key db2={fp}" in message and "\n" not in message
    assert known.read_text() == before

    wrong = "SHA256:" + "A" * 43
    async with SshPool(HostKeyPolicy(known, accepted={"db2": wrong})) as pool:
        with pytest.raises(UnknownHostKey, match="not the"):
            await pool.connect(target(running_lab, "db2"))

    async with SshPool(HostKeyPolicy(known, accepted={"db2": fp})) as pool:
        db2 = await pool.connect(target(running_lab, "db2"))
        assert (await db2.run(["hostname"])).stdout == "db2\n"
    assert known.read_text().startswith(before)
    assert oct(known.stat().st_mode & 0o777) == "0o640"
    found = subprocess.run(["ssh-keygen", "-F", "10.77.0.12", "-f", str(known)],
                           capture_output=True, text=True)
    assert found.returncode == 0, "the accepted key was appended under the address"
    assert subprocess.run(["ssh-keygen", "-F", "db2", "-f", str(known)],
                          capture_output=True).returncode == 0, "... and under the name"

    # Now known: no question, even from a policy that would refuse everything.
    async with SshPool(HostKeyPolicy(known, ask=say_no)) as pool:
        await pool.connect(target(running_lab, "db2"))
    assert len(asked) == 1

    async def say_yes(host: str, fingerprint: str) -> bool:
        asked.append((host, fingerprint))
        return True

    async with SshPool(HostKeyPolicy(known, ask=say_yes)) as pool:
        db3 = await pool.connect(target(running_lab, "db3"))
        assert (await db3.run(["hostname"])).stdout == "db3\n"
    assert asked[-1] == ("db3", host_fingerprint(running_lab, "db3", tmp_path))


async def test_a_changed_host_key_is_refused_hard_and_never_asked(
        running_lab: Lab, tmp_path: Path) -> None:
    fp = host_fingerprint(running_lab, "db2", tmp_path)
    lines = LAB_KNOWN_HOSTS.read_text().splitlines()
    db3_key = next(ln for ln in lines if ln.startswith("db3,")).split(" ", 1)[1]
    known = tmp_path / "known_hosts"
    known.write_text("".join(f"db2 {db3_key}\n" if ln.startswith("db2,") else ln + "\n"
                             for ln in lines))
    asked: list[str] = []

    async def ask(host: str, fingerprint: str) -> bool:
        asked.append(host)
        return True

    # Even a fingerprint the operator "accepted" does not override a known, different key.
    policy = HostKeyPolicy(known, accepted={"db2": fp}, ask=ask)
    async with SshPool(policy, connect_timeout=5) as pool:
        with pytest.raises(ChangedHostKey) as changed:
            await pool.connect(target(running_lab, "db2"))
        db3 = await pool.connect(target(running_lab, "db3"))
        assert (await db3.run(["hostname"])).stdout == "db3\n", "other hosts are unaffected"
    assert changed.value.presented_fingerprint == fp
    assert asked == []
    message = str(changed.value)
    assert "CHANGED" in message and "ssh-keygen -R db2" in message and "\n" not in message


async def test_wrong_user_or_key_is_an_authentication_failure(
        running_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    other_key = tmp_path / "other_ed25519"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other_key))
    address = running_lab.topo.host_address("db2")
    policy = HostKeyPolicy(known_hosts_copy(tmp_path))
    async with SshPool(policy, connect_timeout=5) as pool:
        with pytest.raises(AuthFailed, match=f"nobody@{address}"):
            await pool.connect(SshTarget("db2", address, user="nobody", client_keys=(KEY,)))
        with pytest.raises(AuthFailed, match="authorized_keys"):
            await pool.connect(SshTarget("db2", address, client_keys=(str(other_key),)))
        with pytest.raises(AuthFailed, match="cannot load"):
            await pool.connect(SshTarget("db2", address,
                                         client_keys=(str(tmp_path / "missing"),)))


async def test_nothing_listening_is_unreachable(running_lab: Lab, tmp_path: Path) -> None:
    policy = HostKeyPolicy(known_hosts_copy(tmp_path), accepted={"ghost": "SHA256:x"})
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with SshPool(policy, connect_timeout=1) as pool:
        with pytest.raises(Unreachable, match="ghost: ") as nobody:
            await pool.connect(SshTarget("ghost", running_lab.topo.address(99)))
        with pytest.raises(Unreachable):
            await pool.connect(target(running_lab, "db2", port=2222))
    assert loop.time() - started < 5
    assert "\n" not in str(nobody.value)


async def test_a_host_behind_the_jump_host(running_lab: Lab, tmp_path: Path) -> None:
    """db3 through jump, its key not yet known: fetched through the tunnel and accepted."""
    fp = host_fingerprint(running_lab, "db3", tmp_path)
    known = known_hosts_copy(tmp_path, without=("db3",))
    async with SshPool(HostKeyPolicy(known, accepted={"db3": fp})) as pool:
        jump = target(running_lab, "jump")
        db3 = await pool.connect(target(running_lab, "db3", jump=jump))
        seen_from = (await db3.run(["sh", "-c", 'echo "${SSH_CLIENT%% *}"'])).stdout.strip()
        assert seen_from == running_lab.topo.host_address("jump")
        assert await pool.connect(target(running_lab, "db3", jump=jump)) is db3


async def test_ssh_config_is_read_for_the_address(
        running_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key given: only ~/.ssh/config's IdentityFile can make this login work."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    address = running_lab.topo.host_address("db2")
    (home / ".ssh" / "config").write_text(
        f"Host {address}\n    IdentityFile {KEY}\n    IdentitiesOnly yes\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    async with SshPool(HostKeyPolicy(known_hosts_copy(tmp_path))) as pool:
        db2 = await pool.connect(SshTarget("db2", address))
        assert (await db2.run(["hostname"])).stdout == "db2\n"


async def test_a_lost_connection_is_opened_again(db2: RemoteHost) -> None:
    first = await db2.connection()
    first.abort()
    await first.wait_closed()
    assert (await db2.run(["hostname"])).stdout == "db2\n"
    assert await db2.connection() is not first


async def test_forward_to_a_port_and_to_a_unix_socket(db2: RemoteHost, running_lab: Lab) -> None:
    # db3's sshd, as seen from db2 (the lab's sshd listen on their lab address only).
    host, port = await db2.forward_local_to_port(running_lab.topo.host_address("db3"), 22)
    assert host == "127.0.0.1"
    reader, writer = await asyncio.open_connection(host, port)
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"SSH-2.0-OpenSSH")
    writer.close()

    sock = f"/tmp/mw-fwd-{secrets.token_hex(4)}.sock"
    server = asyncio.create_task(db2.run(
        ["socat", f"UNIX-LISTEN:{sock},unlink-early,unlink-close", "SYSTEM:echo hello-socket"],
        timeout=30))

    async def listening() -> bool:
        return (await db2.run(["test", "-S", sock], check=False)).exit_status == 0

    await until(listening, "socat to listen")
    host, port = await db2.forward_local_to_path(sock)
    reader, writer = await asyncio.open_connection(host, port)
    assert await asyncio.wait_for(reader.readline(), 5) == b"hello-socket\n"
    writer.close()
    await server
    await db2.run(["rm", "-f", sock])


async def test_write_file_is_atomic_with_its_mode_and_keeps_the_owner(
        db2: RemoteHost) -> None:
    d = f"/tmp/mw-write-{secrets.token_hex(4)}"
    path = f"{d}/it's a file"
    await db2.run(["mkdir", d])
    try:
        assert await db2.read_file(path) is None
        await db2.write_file(path, b"first\x00\xff\n", mode=0o600)
        assert await db2.read_file(path) == b"first\x00\xff\n"
        await db2.run(["chown", "nobody:nogroup", path])
        inode = (await db2.run(["stat", "-c", "%i", path])).stdout
        await db2.write_file(path, b"second\n", mode=0o640)
        assert await db2.read_file(path) == b"second\n"
        stat = (await db2.run(["stat", "-c", "%a %U %G %i", path])).stdout.split()
        assert stat[:3] == ["640", "nobody", "nogroup"]
        assert stat[3] != inode.strip(), "replaced by rename, not rewritten in place"
        assert (await db2.run(["ls", "-A", d])).stdout == "it's a file\n", "no temp file left"
        await db2.write_file(path, b"third\n", mode=0o644, atomic=False)
        assert (await db2.run(["stat", "-c", "%a %i", path])).stdout.split() == [
            "644", stat[3]]
        await db2.run(["ln", "-s", path, f"{d}/link"])
        await db2.write_file(f"{d}/link", b"through the link\n")
        assert await db2.read_file(path) == b"through the link\n"
        assert (await db2.run(["test", "-L", f"{d}/link"], check=False)).exit_status == 0
        with pytest.raises(CommandFailed):
            await db2.write_file(f"{d}/missing/dir/file", b"x")
        with pytest.raises(CommandFailed):
            await db2.read_file(d)
    finally:
        await db2.run(["rm", "-rf", d])

