"""A ProxySQL node as the operating system sees it: is the package there, does the service
run, which files are in its datadir; installing and removing the package. Shell run over SSH;
the parsing is pure."""

from __future__ import annotations

from typing import Any

from moodle_wizard.core.command import Command, Script
from moodle_wizard.core.remote.packages import install_packages, install_shell
from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = ["CNF", "DATADIR", "REPO_SERIES", "install", "install_commands", "parse_probe", "probe",
           "uninstall", "uninstall_command"]

DATADIR = "/var/lib/proxysql"
CNF = "/etc/proxysql.cnf"
# ProxySQL's own package repository (Debian has no proxysql package).
REPO_SERIES = "2.7.x"

# What is on a node, in one command: is ProxySQL installed, running, which config DBs exist.
_PROBE = r"""
d=$1
installed=no
for f in /etc/init.d/proxysql /lib/systemd/system/proxysql.service \
         /usr/lib/systemd/system/proxysql.service /etc/systemd/system/proxysql.service; do
    [ -e "$f" ] && installed=yes
done
running=no
if [ "$installed" = yes ] && service proxysql status >/dev/null 2>&1; then running=yes; fi
echo "installed=$installed"
echo "running=$running"
echo "dbfiles=$(cd "$d" 2>/dev/null && ls -1 -- *.db 2>/dev/null | tr '\n' ' ')"
echo "files=$(ls -A -- "$d" 2>/dev/null | tr '\n' ' ')"
echo "sqlite3=$(command -v sqlite3 >/dev/null 2>&1 && echo yes || echo no)"
"""

# ProxySQL is not in Debian: its own repository first (then install_packages, as for every
# package the wizard installs).
_ADD_REPOSITORY = rf"""
. /etc/os-release
export DEBIAN_FRONTEND=noninteractive
base=https://repo.proxysql.com/ProxySQL/proxysql-{REPO_SERIES}
install -d -m 0755 /etc/apt/keyrings
if command -v wget >/dev/null 2>&1; then
    wget -nv -O /etc/apt/keyrings/proxysql.gpg "$base/repo_pub_key.gpg"
else
    curl -fsSL -o /etc/apt/keyrings/proxysql.gpg "$base/repo_pub_key.gpg"
fi
echo "deb [signed-by=/etc/apt/keyrings/proxysql.gpg] $base/$VERSION_CODENAME/ ./" \
    > /etc/apt/sources.list.d/proxysql.list
apt-get update -q
"""

_UNINSTALL = r"""
export DEBIAN_FRONTEND=noninteractive
service proxysql stop >/dev/null 2>&1 || true
apt-get purge -y -q proxysql < /dev/null
rm -f /etc/apt/sources.list.d/proxysql.list /etc/apt/keyrings/proxysql.gpg
"""


def parse_probe(text: str) -> dict[str, Any]:
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {
        "installed": fields.get("installed") == "yes",
        "running": fields.get("running") == "yes",
        "db_files": sorted(f for f in fields.get("dbfiles", "").split() if f.endswith(".db")),
        "files": sorted(fields.get("files", "").split()),
        "sqlite3": fields.get("sqlite3") == "yes",
    }


async def probe(host: RemoteHost) -> dict[str, Any]:
    out = await host.run(["sh", "-c", _PROBE, "sh", DATADIR],
                         display=f"is ProxySQL installed/running on {host.target.name}; "
                                 f"ls {DATADIR}")
    return parse_probe(out.stdout)


def install_commands(px: str) -> list[Command]:
    """What install() runs, as commands (the ProxySQL step's runbook renders them)."""
    return [Script(px, _ADD_REPOSITORY, timeout=1800), install_shell(px, ["proxysql"])]


def uninstall_command(px: str) -> Script:
    return Script(px, _UNINSTALL, timeout=1800)


async def install(host: RemoteHost) -> None:
    repository, _ = install_commands(host.target.name)
    assert isinstance(repository, Script)
    await host.script(repository.script, timeout=repository.timeout)
    await install_packages(host, ["proxysql"])


async def uninstall(host: RemoteHost) -> None:
    script = uninstall_command(host.target.name)
    await host.script(script.script, timeout=script.timeout)
