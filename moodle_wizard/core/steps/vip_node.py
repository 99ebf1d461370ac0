"""keepalived on one proxy host: its files, its processes (found by pid file, never by name),
starting, stopping and removing it, and the VIP on its interface. The VIP step (steps/vip.py)
decides what runs where."""

from __future__ import annotations

from dataclasses import dataclass

from moodle_wizard.core.command import Shell, placeholder
from moodle_wizard.core.poll import PollTimeout, poll_until
from moodle_wizard.core.remote.netcheck import holds_address
from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = [
    "CHECK_SCRIPT",
    "CONF",
    "PID_FILES",
    "STOP_TIMEOUT_S",
    "KeepalivedState",
    "check_script",
    "drop_address",
    "drop_command",
    "holds_vip",
    "keepalived_pids",
    "keepalived_state",
    "start_command",
    "start_keepalived",
    "stop_commands",
    "stop_keepalived",
    "uninstall_command",
    "uninstall_keepalived",
]

CONF = "/etc/keepalived/keepalived.conf"
CHECK_SCRIPT = "/etc/keepalived/moodle-wizard-check-proxysql"
# Debian's init script: the main process; the VRRP child writes its own.
PID_FILES = ("/run/keepalived.pid", "/run/vrrp.pid", "/run/checkers.pid")
STOP_TIMEOUT_S = 15.0


def check_script(client_port: int) -> str:
    # `ss` only looks at the listening socket: no connection, so ProxySQL logs nothing.
    return (
        "#!/bin/sh\n"
        "# Managed by moodle-wizard: keepalived's track_script. It fails while ProxySQL does\n"
        f"# not listen on its client port {client_port}; keepalived then releases the VIP.\n"
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"ss -Hltn 'sport = :{client_port}' | grep -q .\n"
    )


# keepalived's processes by their pid files, never by name: a pid is only signalled while
# /proc says it is keepalived.
_KEEPALIVED_PIDS = r"""
for f in "$@"; do
    p=$(cat "$f" 2>/dev/null) || continue
    case "$p" in ''|*[!0-9]*) continue ;; esac
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/sbin/keepalived ] && echo "$p"
done
exit 0
"""

_STALE_PID_FILES = r"""
for f in "$@"; do
    p=$(cat "$f" 2>/dev/null) || continue
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/sbin/keepalived ] || rm -f -- "$f"
done
"""

_KILL = r"""
sig=$1; shift
for p in "$@"; do
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/sbin/keepalived ] && kill "-$sig" "$p"
done
exit 0
"""


@dataclass(frozen=True)
class KeepalivedState:
    installed: bool
    conf: bool  # CONF exists
    script: bool  # CHECK_SCRIPT exists
    pids: list[str]  # live keepalived processes


async def keepalived_pids(host: RemoteHost) -> list[str]:
    out = await host.run(["sh", "-c", _KEEPALIVED_PIDS, "sh", *PID_FILES],
                         display=f"keepalived pids from {' '.join(PID_FILES)}")
    return out.stdout.split()


async def keepalived_state(host: RemoteHost) -> KeepalivedState:
    out = await host.run(["sh", "-c", "[ -x /usr/sbin/keepalived ] && echo installed; "
                          f"[ -e {CONF} ] && echo conf; [ -e {CHECK_SCRIPT} ] && echo script;"
                          " exit 0"], display="is keepalived installed, configured?")
    words = out.stdout.split()
    return KeepalivedState(installed="installed" in words, conf="conf" in words,
                           script="script" in words, pids=await keepalived_pids(host))


# -- as commands (core/command.py): what runs is what the VIP step's runbook shows ----------

def start_command(px: str) -> Shell:
    return Shell(px, ("service", "keepalived", "start"), timeout=60,
                 note="if it does not run; then wait for a live pid")


def stop_commands(px: str, pids: list[str] | None) -> list[Shell]:
    """`service keepalived stop`; then, for what still runs after STOP_TIMEOUT_S, KILL by pid
    (None: the plan's placeholder) and the pid files it leaves."""
    shown = pids if pids is not None else [placeholder("its pids")]
    late = f"only what still runs {STOP_TIMEOUT_S:.0f} s later"
    return [Shell(px, ("service", "keepalived", "stop"), check=False, timeout=60,
                  note="if it runs"),
            Shell(px, ("sh", "-c", _KILL, "sh", "KILL", *shown), note=late),
            Shell(px, ("sh", "-c", _STALE_PID_FILES, "sh", *PID_FILES), note=late)]


def drop_command(px: str, interface: str, address_cidr: str) -> Shell:
    return Shell(px, ("ip", "addr", "del", address_cidr, "dev", interface),
                 note="if it is still there")


def uninstall_command(px: str) -> Shell:
    return Shell.sh(px, "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q keepalived "
                        "< /dev/null", timeout=1800)


async def start_keepalived(host: RemoteHost, px: str) -> None:
    if not await keepalived_pids(host):
        await host.run(list(start_command(px).argv), timeout=60)

    async def started() -> bool | None:
        return True if await keepalived_pids(host) else None

    await poll_until(started, timeout_s=10, interval_s=0.2,
                     what=f"{px}: keepalived did not start (no live pid in {PID_FILES[0]}); "
                          "run `keepalived -n -l -D` there to see why")


async def stop_keepalived(host: RemoteHost, px: str) -> None:
    """`service keepalived stop`; KILL by pid what still runs after STOP_TIMEOUT_S."""
    pids = await keepalived_pids(host)
    if not pids:
        return
    stop, kill, stale = stop_commands(px, pids)
    await host.run(list(stop.argv), check=False, timeout=60)

    async def stopped() -> bool | None:
        return None if await keepalived_pids(host) else True

    try:
        await poll_until(stopped, timeout_s=STOP_TIMEOUT_S, interval_s=0.2,
                         what=f"{px}: keepalived still runs {STOP_TIMEOUT_S:.0f} s after "
                              "`service keepalived stop`")
    except PollTimeout:
        await host.run(list(kill.argv))
        # A KILLed keepalived leaves its pid files (and the VIP: Vip.drop_vip) behind.
        await host.run(list(stale.argv))


async def uninstall_keepalived(host: RemoteHost, px: str) -> None:
    await host.run(list(uninstall_command(px).argv), timeout=1800)


async def holds_vip(host: RemoteHost, interface: str, address: str) -> bool:
    addr = await host.run(["ip", "-o", "-4", "addr", "show", "dev", interface])
    return holds_address(addr.stdout, interface, address)


async def drop_address(host: RemoteHost, px: str, interface: str, address: str) -> None:
    """Take `address` off `interface` if it is there (a KILLed keepalived leaves the VIP)."""
    addr = await host.run(["ip", "-o", "-4", "addr", "show", "dev", interface], check=False)
    for line in addr.stdout.splitlines():
        for word in line.split():
            if word.startswith(f"{address}/"):
                await host.run(list(drop_command(px, interface, word).argv))
