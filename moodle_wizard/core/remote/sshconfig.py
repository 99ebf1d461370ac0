"""`~/.ssh/config` as `ssh NAME` reads it, for the inventory's hosts.

Why the wizard resolves the config itself instead of handing the name to asyncssh: the wizard
checks host keys itself (known_hosts.lookup: the name OR the address, `[x]:port` for a port
other than 22) and then has asyncssh verify against exactly the keys it found. asyncssh would
match `Host` patterns against connect()'s host argument and then go to the config's HostName
and Port, places the wizard did not look the key up for. So the config is parsed here, once,
with asyncssh's own parser (its options, percent expansion, Include, Match), and:

- a `Host` line matches the inventory's name (as `ssh db1`) OR its address (a `Host 10.0.0.11`
  block, which applied before the name did, still does); a negated pattern that matches
  either excludes the host. As in ssh, the first value obtained wins, in file order;
- the address connected to is the inventory's (it always sets one, and ProxySQL, keepalived
  and the replicas use that address: SSH must reach the same machine), never a `HostName` of
  the config, which applies only to a ProxyJump hop that is not an inventory host; the port,
  user and jump are the inventory's `ssh_port`, `ssh_user`, `ssh_jump` when it sets them (the
  inventory wins), else the config's Port, User, ProxyJump, else 22, the local user (the
  wizard runs as root: root) and none;
- a ProxyJump becomes a chain of SshTargets (a hop named like an inventory host is that host),
  so every hop's key is checked by the same policy, never by asyncssh on its own;
- the same parsed config goes to asyncssh.connect (`for_connection`), with HostName, Port and
  User pinned to the target's and ProxyJump removed, so IdentityFile, IdentitiesOnly, ciphers,
  ProxyCommand ... apply and asyncssh cannot connect anywhere but where the key was checked.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import cast

import asyncssh
from asyncssh.config import ConfigParseError, SSHClientConfig
from asyncssh.pattern import WildcardPattern

from moodle_wizard.core.remote.errors import RemoteError
from moodle_wizard.core.remote.ssh import SshTarget

__all__ = [
    "HostConfig",
    "NonRootDatabaseHost",
    "connection_options",
    "default_paths",
    "for_connection",
    "refuse_non_root_database",
    "resolve",
]

# A ProxyJump chain (or config-named jumps naming each other) longer than this is a loop;
# counted across the inventory's callbacks (`known`), which resolve hosts of their own.
_MAX_HOPS = 8
_DEPTH: ContextVar[int] = ContextVar("moodle_wizard_ssh_hops", default=0)


def default_paths() -> tuple[Path, ...]:
    """`~/.ssh/config` when readable (what asyncssh and ssh read), else nothing."""
    path = Path("~/.ssh/config").expanduser()
    return (path,) if os.access(path, os.R_OK) else ()


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


class HostConfig(SSHClientConfig):
    """The config for one host, its `Host` lines matched by name or address."""

    def __init__(self, name: str, address: str) -> None:
        # (): no user or port given on a command line; the config's apply.
        super().__init__(cast(SSHClientConfig, None), False, False, False, _local_user(),
                         cast(str, ()), name, cast(int, ()))
        self._mw_address = address

    def _match_host(self, option: str, args: list[str]) -> None:
        values = [v.lower() for v in dict.fromkeys([self._orig_host, self._mw_address])]
        positive = negative = False
        for pattern in ",".join(args).split(","):
            negated = pattern.startswith("!")
            # ssh lowercases the host it was given, not the patterns
            wild = WildcardPattern(pattern[1:] if negated else pattern)
            if any(wild.matches(v) for v in values):
                if negated:
                    negative = True
                else:
                    positive = True
        self._matching = positive and not negative
        args.clear()

    # The parser calls the handler it was built with, not a method looked up on self.
    _handlers = {**SSHClientConfig._handlers, "host": ("Host", _match_host)}  # noqa: RUF012

    def pin(self, target: SshTarget) -> None:
        """What asyncssh must use, whatever the file said (see the module's docstring)."""
        self._options["Hostname"] = target.address
        self._options["Port"] = target.port
        self._options["User"] = target.user
        self._options.pop("ProxyJump", None)


def load(name: str, address: str, paths: Sequence[Path] | None = None) -> HostConfig:
    """The config files (default: `default_paths()`) parsed for this host."""
    config = HostConfig(name, address)
    for path in default_paths() if paths is None else paths:
        try:
            config.parse(Path(path))
        except (ConfigParseError, OSError, ValueError) as exc:
            raise RemoteError(name, f"cannot read the SSH config {path}: {exc}; fix that line "
                                    f"(`ssh -G {name}` shows how ssh reads it)") from exc
    config.loaded = True
    return config


def for_connection(target: SshTarget, paths: Sequence[Path] | None = None) -> HostConfig:
    """The config asyncssh connects `target` with: its IdentityFile, ciphers ..., with the
    address, port and user pinned to the target's."""
    config = load(target.name, target.config_address or target.address, paths)
    config.pin(target)
    return config


def connection_options(target: SshTarget,
                       paths: Sequence[Path] | None = None) -> asyncssh.SSHClientConnectionOptions:
    """Options for asyncssh.connect / get_server_host_key that carry `for_connection`'s
    config. asyncssh builds a connection's config on top of `options.config` and, that one
    being loaded, reads no file of its own; the explicit arguments of connect() still win.
    (Made with no config and no keys, so that making it reads nothing; connect() passes its
    own client_keys.)"""
    options = asyncssh.SSHClientConnectionOptions(config=None, client_keys=None)
    options.config = for_connection(target, paths)
    return options


def resolve(name: str, address: str, *, user: str | None = None, port: int | None = None,
            jump: SshTarget | None = None,
            known: Callable[[str], SshTarget | None] = lambda _: None,
            paths: Sequence[Path] | None = None, hop: bool = False) -> SshTarget:
    """The target `ssh NAME` would reach, the inventory's explicit settings winning.

    `jump` is the inventory's ssh_jump (it wins over ProxyJump); `known` gives the target of
    an inventory host by its name (a ProxyJump hop that names one). `hop`: a ProxyJump hop
    that is no inventory host, whose address is the config's HostName if it has one."""
    depth = _DEPTH.get()
    if depth > _MAX_HOPS:
        raise RemoteError(name, f"its ProxyJump chain is longer than {_MAX_HOPS} hops (a loop "
                                f"in the SSH config?); check `ssh -G {name}`")
    token = _DEPTH.set(depth + 1)
    try:
        return _resolve(name, address, user, port, jump, known, paths, hop)
    finally:
        _DEPTH.reset(token)


def _resolve(name: str, address: str, user: str | None, port: int | None,
             jump: SshTarget | None, known: Callable[[str], SshTarget | None],
             paths: Sequence[Path] | None, hop: bool) -> SshTarget:
    config = load(name, address, paths)
    hostname = config.get("Hostname")
    conf_port = config.get("Port")
    conf_user = config.get("User")
    if jump is None:
        proxy = config.get("ProxyJump")
        if isinstance(proxy, str) and proxy:
            jump = _hops(name, proxy, known, paths)
    connect_to = hostname if hop and isinstance(hostname, str) and hostname else address
    return SshTarget(
        name=name,
        address=connect_to,
        port=port if port is not None else (conf_port if isinstance(conf_port, int) else 22),
        user=user if user is not None else (conf_user if isinstance(conf_user, str)
                                            and conf_user else _local_user()),
        jump=jump,
        config_address=None if address in (connect_to, name) else address,
    )


class NonRootDatabaseHost(RemoteError):
    """A database host reached as a user other than root (not supported in this version)."""


def refuse_non_root_database(target: SshTarget, database: bool) -> None:
    """Refuse a database host (source or replica) reached as a user other than root.

    Not supported yet, so refused before anything runs there rather than half done: the
    wizard's DB admin logs in through the SSH-forwarded server socket, where MariaDB's
    unix_socket authenticates the SSH user itself (sudo cannot change that: sshd opens the
    socket), a replica has no admin but root@localhost, and the seed stream between the
    database hosts is authorized in root's authorized_keys."""
    if database and target.sudo:
        raise NonRootDatabaseHost(
            target.name, f"it is a database host reached as {target.user}, not root; "
                         f"database hosts are reached as root only in this version (the DB "
                         f"admin logs in through the SSH-forwarded socket as the SSH user; a "
                         f"user with sudo works on proxy, app and jump hosts): set ssh_user = "
                         f"\"root\" for {target.name} in the inventory")


def _hops(name: str, proxy: str, known: Callable[[str], SshTarget | None],
          paths: Sequence[Path] | None) -> SshTarget:
    """`[user@]host[:port][,...]`: each hop reached through the one before it."""
    previous: SshTarget | None = None
    for hop in proxy.split(","):
        hop_user, _, rest = hop.strip().rpartition("@")
        host, colon, port_text = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
        if not host or (colon and not port_text.isdigit()):
            raise RemoteError(name, f"cannot read ProxyJump {proxy!r} in the SSH config; "
                                    f"use [user@]host[:port][,...]")
        hop_port = int(port_text) if colon else None
        inventory = known(host)
        if inventory is not None and previous is None:
            target = dataclasses.replace(
                inventory, user=hop_user or inventory.user,
                port=inventory.port if hop_port is None else hop_port)
        else:
            target = resolve(host, inventory.address if inventory else host,
                             user=hop_user or None, port=hop_port, jump=previous, known=known,
                             paths=paths, hop=inventory is None)
        if target.name == name:
            raise RemoteError(name, f"its ProxyJump {proxy!r} goes through itself; fix the "
                                    f"SSH config")
        previous = target
    assert previous is not None  # split() gives at least one hop
    return previous
