"""Which ProxySQL the wizard works with, and the version installed on a proxy host.

The wizard speaks ProxySQL's admin SQL (mysql_servers, mysql_replication_hostgroups,
mysql_users, global_variables, LOAD/SAVE ... TO RUNTIME/DISK, runtime_checksums_values,
stats_mysql_connection_pool, the read_only monitor). Those are the same from 2.5 to 2.7, and
3.0 kept them for MySQL backends; older series (2.0 to 2.4) and anything newer than 3.0 were
not checked against what the wizard runs, so they are refused rather than half-working.

The version comes from `proxysql --version` on the host: the binary the service runs, also
while ProxySQL is stopped (its admin interface would only tell a running one). ProxySQL prints
"ProxySQL version 2.7.2-0-g8c3c6a5, codename Truls" (on stderr before 2.6, on stdout since), so
both streams are read, and the first X.Y.Z on a line naming ProxySQL is its version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = ["SUPPORTED", "ProxySqlVersion", "parse_version", "refusal", "supported",
           "version_refusal"]

# The series the wizard supports, both ends included: (major, minor).
OLDEST, NEWEST = (2, 5), (3, 0)
SUPPORTED = "2.5.x to 3.0.x"
_VERSION = re.compile(r"(?<![\d.])(\d+)\.(\d+)\.(\d+)[^\s,;()]*")
_NOT_FOUND = 127
_FIX = ("install a supported release from ProxySQL's own repository (repo.proxysql.com, "
        "the .deb/.rpm packages), or remove ProxySQL from the host and the wizard installs "
        "2.7.x")


@dataclass(frozen=True, order=True)
class ProxySqlVersion:
    major: int
    minor: int
    patch: int
    text: str = field(compare=False)  # as the binary printed it: 2.7.2-0-g8c3c6a5

    def __str__(self) -> str:
        return self.text


def parse_version(output: str) -> ProxySqlVersion | None:
    """The version in `proxysql --version`'s output, or None when no line naming ProxySQL
    carries an X.Y.Z."""
    for line in output.splitlines():
        if "proxysql" not in line.lower():
            continue
        match = _VERSION.search(line)
        if match:
            major, minor, patch = (int(g) for g in match.groups())
            return ProxySqlVersion(major, minor, patch, match.group(0))
    return None


def supported(version: ProxySqlVersion) -> bool:
    return OLDEST <= (version.major, version.minor) <= NEWEST


def refusal(host: str, exit_status: int, output: str) -> str | None:
    """The one line refusing what `proxysql --version` said on `host`, or None when it is a
    supported ProxySQL."""
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    if exit_status == _NOT_FOUND:
        return (f"{host}: ProxySQL's service is installed but there is no proxysql command "
                f"to tell its version (`proxysql --version`: {first or 'not found'}); {_FIX}")
    version = parse_version(output)
    if exit_status != 0 or version is None:
        said = first or f"nothing (exit status {exit_status})"
        return (f"{host}: `proxysql --version` printed {said!r}, not a ProxySQL version; the "
                f"wizard supports ProxySQL {SUPPORTED}: {_FIX}")
    if not supported(version):
        return (f"{host}: ProxySQL {version} is installed; the wizard supports ProxySQL "
                f"{SUPPORTED} (their admin SQL is what it was checked against): {_FIX}")
    return None


async def version_refusal(host: RemoteHost) -> str | None:
    """Read the installed version on `host` and refuse it when unsupported (None: fine)."""
    out = await host.run(["sh", "-c", "exec proxysql --version 2>&1"], check=False, timeout=60,
                         display="proxysql --version")
    return refusal(host.target.name, out.exit_status, out.stdout + out.stderr)
