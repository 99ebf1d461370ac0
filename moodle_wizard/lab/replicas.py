"""The replica hosts' starting points (`lab up --replicas`), besides today's empty one.

fresh-package: as `apt-get install mariadb-server` leaves a Debian host in a container: dpkg
  lists the packages, the package's own postinst has made the datadir (mariadb-install-db: the
  system tables, no user schema, no binary log) and did not start the server, because
  policy-rc.d (exit 101) forbids starting services, as Debian's container images have it.
bare: the server packages purged with dpkg (their files gone from the host, dpkg's database
  says not installed), so the wizard's `apt-get install` really installs them. There is no
  internet inside the lab: the host's only apt source is a local repository made of the
  machine's cached .debs of the very versions the machine runs (a site's own mirror, on disk).

Both change what is under /usr, so those hosts get a /usr of their own (an overlay, like /etc
and /var on every host): nothing they do reaches the machine's /usr. Every script checks that
first and refuses otherwise.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from email.utils import formatdate
from pathlib import Path

from moodle_wizard.lab.shell import write_file
from moodle_wizard.lab.system import LabError, run

# What `dpkg --purge` takes off a bare host: the packages the wizard installs on a MariaDB
# replica (mariadb-server, mariadb-backup, mariadb-client) and the -core packages only they
# depend on. Everything else they need stays installed, as on a host that runs other things.
PURGED = ("mariadb-server", "mariadb-server-core", "mariadb-backup", "mariadb-client",
          "mariadb-client-core")
ARCHIVES = Path("/var/cache/apt/archives")
HOST_REPO = "/var/local/mwlab-apt"
PRIVATE_USR_MARKER = "/usr/.mwlab-private-usr"
SMALL_FOOTPRINT_CNF = ("# mwlab: small footprint\n[mysqld]\ninnodb_buffer_pool_size = 32M\n"
                       "innodb_log_file_size = 48M\nperformance_schema = OFF\n"
                       "skip-name-resolve\n")

PRIVATE_USR_GUARD = (
    f"if ! mountpoint -q /usr || [ ! -e {PRIVATE_USR_MARKER} ]; then\n"
    "  echo 'mwlab: /usr on this host is not its own overlay; refusing to change packages'"
    " >&2\n"
    "  exit 1\n"
    "fi\n"
    # A container's policy: services are not started by package scripts. The machine may have
    # one already (then this host sees it); if not, this host gets its own.
    "if [ ! -e /usr/sbin/policy-rc.d ]; then\n"
    "  printf '#!/bin/sh\\n# mwlab: no service starts from package scripts\\nexit 101\\n'"
    " > /usr/sbin/policy-rc.d\n"
    "  chmod 0755 /usr/sbin/policy-rc.d\n"
    "fi\n"
)


def fresh_package_script() -> str:
    """The package's own postinst, run as dpkg runs it on a first install, on an emptied
    /var/lib/mysql: exactly the datadir and files `apt-get install` leaves."""
    marker = "/etc/.mwlab-replica-fresh-package"
    return (
        PRIVATE_USR_GUARD
        + write_file("/etc/mysql/mariadb.conf.d/60-mwlab.cnf", SMALL_FOOTPRINT_CNF)
        + f"if [ ! -e {marker} ]; then\n"
        "  service mariadb stop >/dev/null 2>&1 || true\n"
        "  rm -rf /var/lib/mysql\n"
        # As dpkg runs it (deb-systemd-helper checks that it was called from dpkg).
        "  if ! DEBIAN_FRONTEND=noninteractive DPKG_MAINTSCRIPT_PACKAGE=mariadb-server"
        " DPKG_MAINTSCRIPT_NAME=postinst /var/lib/dpkg/info/mariadb-server.postinst"
        " configure </dev/null >/var/log/mwlab-postinst.log 2>&1; then\n"
        "    cat /var/log/mwlab-postinst.log >&2; exit 1\n"
        "  fi\n"
        "  test -d /var/lib/mysql/mysql || { echo 'mwlab: the postinst made no system tables'"
        " >&2; exit 1; }\n"
        f"  touch {marker}\n"
        "fi\n"
    )


def bare_script(labdir: Path) -> str:
    marker = "/etc/.mwlab-replica-bare"
    return (
        PRIVATE_USR_GUARD
        + f"if [ ! -e {marker} ]; then\n"
        "  service mariadb stop >/dev/null 2>&1 || true\n"
        "  if ! DEBIAN_FRONTEND=noninteractive dpkg --purge " + " ".join(PURGED)
        + " </dev/null >/var/log/mwlab-purge.log 2>&1; then\n"
        "    cat /var/log/mwlab-purge.log >&2; exit 1\n"
        "  fi\n"
        "  rm -rf /var/lib/mysql\n"
        f"  rm -rf {HOST_REPO} && cp -r {labdir / 'apt'} {HOST_REPO}\n"
        "  rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*\n"
        + write_file("/etc/apt/sources.list.d/mwlab.list",
                     "# mwlab: the site's package mirror (the lab has no internet)\n"
                     f"deb [trusted=yes] file:{HOST_REPO} ./\n")
        + "  apt-get update -q >/var/log/mwlab-apt-update.log 2>&1 || {"
        " cat /var/log/mwlab-apt-update.log >&2; exit 1; }\n"
        f"  touch {marker}\n"
        "fi\n"
        # The admin's tuning for when a server runs here (the lab's memory budget).
        + write_file("/etc/mysql/mariadb.conf.d/60-mwlab.cnf", SMALL_FOOTPRINT_CNF)
    )


def _installed_version(package: str) -> str:
    out = run(["dpkg-query", "-W", "-f", "${Version}", package], check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise LabError(f"--replicas bare: {package} is not installed on this machine; "
                       "install the lab's packages with `make deps`")
    return out.stdout.decode().strip()


def _deb_fields(deb: Path) -> tuple[str, str]:
    out = run(["dpkg-deb", "--field", str(deb), "Package", "Version"]).stdout.decode()
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return fields.get("Package", ""), fields.get("Version", "")


def _find_deb(package: str, version: str) -> Path:
    for deb in sorted(ARCHIVES.glob(f"{package}_*.deb")):
        if _deb_fields(deb) == (package, version):
            return deb
    raise LabError(
        f"--replicas bare: no {package} {version} .deb in {ARCHIVES} to make the lab's apt "
        "repository of (there is no internet inside the lab); download them with "
        f"`apt-get install --reinstall --download-only {' '.join(PURGED)}`")


def packages_stanza(deb: Path, control: str) -> str:
    data = deb.read_bytes()
    return (control.rstrip("\n") + f"\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data).hexdigest()}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n")


def release_text(packages: bytes) -> str:
    return ("Origin: mwlab\nLabel: mwlab\nSuite: mwlab\nCodename: mwlab\n"
            f"Date: {formatdate(usegmt=True)}\nArchitectures: amd64 all\n"
            f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n")


def ensure_apt_repo(labdir: Path) -> Path:
    """labdir/apt: a flat apt repository of the machine's own .debs of PURGED (built once)."""
    repo = labdir / "apt"
    if (repo / "Release").exists():
        return repo
    tmp = labdir / "apt.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o755)
    stanzas = []
    for package in PURGED:
        src = _find_deb(package, _installed_version(package))
        dst = tmp / src.name
        shutil.copyfile(src, dst)
        control = subprocess.run(["dpkg-deb", "--field", str(dst)], capture_output=True,
                                 check=True).stdout.decode()
        stanzas.append(packages_stanza(dst, control))
    packages = "\n".join(stanzas).encode()
    (tmp / "Packages").write_bytes(packages)
    (tmp / "Release").write_text(release_text(packages))
    tmp.rename(repo)
    return repo
