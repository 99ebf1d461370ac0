"""Host keys: the operator's policy and the known_hosts file, by OpenSSH's rules.

- a host with an entry in the policy's known_hosts file (matched by the inventory name OR the
  address, `[x]:port` for a port other than 22) is verified against it by asyncssh itself;
  a different key is refused hard (`ChangedHostKey`), never asked about;
- a host with no entry is asked about once (the operator's `--accept-host-key HOST=SHA256:...`
  or the TUI's `ask`); an accepted key is appended to known_hosts before connecting, and the
  connection is then verified against the file like any other.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from moodle_wizard.core.remote.errors import RemoteError, UnknownHostKey
from moodle_wizard.core.remote.ssh import SshTarget

__all__ = [
    "HostKeyPolicy",
    "Trusted",
    "accept_new_key",
    "append_known_host",
    "fingerprint",
    "lookup",
]


def _default_known_hosts() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


@dataclass
class HostKeyPolicy:
    known_hosts: Path = field(default_factory=_default_known_hosts)
    accepted: dict[str, str] = field(default_factory=dict)
    ask: Callable[[str, str], Awaitable[bool]] | None = None


def fingerprint(key: asyncssh.SSHKey) -> str:
    """`SHA256:base64-without-padding`, as `ssh-keygen -lf` prints it."""
    return key.get_fingerprint("sha256")


# What asyncssh accepts as known_hosts: trusted keys, CA keys, revoked keys, then X.509
# trusted/revoked certificates and subject patterns.
Trusted = tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey],
                list[object], list[object], list[object], list[object]]


def _host_patterns(target: SshTarget) -> str:
    names = dict.fromkeys([target.name, target.address])
    if target.port != 22:
        return ",".join(f"[{n}]:{target.port}" for n in names)
    return ",".join(names)


def _key_line(key: asyncssh.SSHKey) -> str:
    return f"{key.get_algorithm()} {base64.b64encode(key.public_data).decode()}"


def _read_known_hosts(path: Path, target: SshTarget) -> asyncssh.SSHKnownHosts | None:
    if not path.exists():
        return None
    try:
        return asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError) as exc:
        raise RemoteError(target.name, f"cannot read {path}: {exc}; fix or move the "
                                       f"file") from exc


def lookup(path: Path, target: SshTarget) -> Trusted:
    """The known_hosts entries in `path` for the target's name OR its address. (asyncssh alone
    would match the address only, and only the host part through a tunnel; OpenSSH records
    `ssh NAME` under the name alone.)"""
    kh = _read_known_hosts(path, target)
    if kh is None:
        return [], [], [], [], [], [], []
    port = None if target.port == 22 else target.port
    keys, cas, revoked, certs, revoked_certs, _, _ = kh.match(target.name, target.address,
                                                              port)
    # X.509 subject patterns are left out: asyncssh would re-parse them from text.
    return list(keys), list(cas), list(revoked), list(certs), list(revoked_certs), [], []


async def accept_new_key(policy: HostKeyPolicy, target: SshTarget,
                         key: asyncssh.SSHKey) -> None:
    """Put a host's key, which known_hosts does not know, to the policy; append it to
    known_hosts when accepted, else raise `UnknownHostKey`."""
    fp = fingerprint(key)
    key_type = key.get_algorithm()
    accepted = policy.accepted.get(target.name) or policy.accepted.get(target.address)
    if accepted is not None:
        wanted = accepted if accepted.startswith("SHA256:") else f"SHA256:{accepted}"
        if wanted != fp:
            raise UnknownHostKey(target.name, target.address, fp, key_type, accepted=wanted)
    elif policy.ask is None or not await policy.ask(target.name, fp):
        raise UnknownHostKey(target.name, target.address, fp, key_type)
    append_known_host(policy.known_hosts, target, key)


def append_known_host(path: Path, target: SshTarget, key: asyncssh.SSHKey) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # O_APPEND keeps an existing file's mode; a new one is private like OpenSSH's.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with open(fd, "ab") as f:
        old = path.read_bytes()
        line = f"{_host_patterns(target)} {_key_line(key)}\n".encode()
        f.write(line if not old or old.endswith(b"\n") else b"\n" + line)
        f.flush()
        os.fsync(f.fileno())
