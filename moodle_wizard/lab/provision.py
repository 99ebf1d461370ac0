"""What each lab host carries: shell scripts run inside the host, idempotent."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from moodle_wizard.lab import backup, replicas
from moodle_wizard.lab.host import host_run, host_sh
from moodle_wizard.lab.moodle_data import DataPlan, data_sql, moodle_user_sql, schema_sql
from moodle_wizard.lab.shell import write_file
from moodle_wizard.lab.topology import DEFAULT_DB_PORT, Topology

MOODLE_DIR = "/var/www/moodle"
MOODLE_DB_USER = "moodleuser"


def lab_file(name: str) -> str:
    return resources.files("moodle_wizard.lab").joinpath("files", name).read_text()


def php_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def etc_hosts(topo: Topology) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{topo.host_address(h.name)}\t{h.name}" for h in topo.hosts]
    return "\n".join(lines) + "\n"


def base_script(topo: Topology, host: str, client_pubkey: str) -> str:
    """Every host: hostname, names, no DNS, its own sshd with its own host key, root by key."""
    addr = topo.host_address(host)
    sshd = (
        f"ListenAddress {addr}\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UseDNS no\n"
    )
    return (
        f"echo {host} > /etc/hostname\n"
        + write_file("/etc/hosts", etc_hosts(topo))
        # The lab has no DNS server; an unreachable resolver would make every lookup time out.
        + write_file("/etc/resolv.conf", "# mwlab: no DNS inside the lab\n")
        + "if [ ! -s /etc/ssh/ssh_host_ed25519_key ] || [ ! -e /etc/ssh/.mwlab-hostkey ]; then\n"
        "  rm -f /etc/ssh/ssh_host_*\n"
        "  ssh-keygen -q -t ed25519 -N '' -C root@" + host + " -f /etc/ssh/ssh_host_ed25519_key\n"
        "  touch /etc/ssh/.mwlab-hostkey\n"
        "fi\n"
        + write_file("/etc/ssh/sshd_config.d/mwlab.conf", sshd)
        + "mkdir -p /root/.ssh && chmod 700 /root/.ssh\n"
        + write_file("/root/.ssh/authorized_keys", client_pubkey, "0600")
        + "service ssh status >/dev/null 2>&1 || service ssh start >/dev/null\n"
    )


def db_server_cnf(addr: str | None, port: int = DEFAULT_DB_PORT) -> str:
    """db1's own settings. addr None: no bind-address here, so Debian's 50-server.cnf sets it
    (127.0.0.1), as on a single-server site; a port other than 3306 is set here."""
    listen = (f"# mwlab: small footprint, listen on the host's address\n[mysqld]\n"
              f"bind-address = {addr}\n" if addr is not None else
              "# mwlab: small footprint; bind-address is Debian's (50-server.cnf: 127.0.0.1)\n"
              "[mysqld]\n")
    return (
        listen
        + (f"port = {port}\n" if port != DEFAULT_DB_PORT else "")
        + "innodb_buffer_pool_size = 32M\n"
        "innodb_log_file_size = 48M\n"
        "performance_schema = OFF\n"
        "skip-name-resolve\n"
    )


def db1_script(topo: Topology) -> str:
    """A standalone Moodle database as most sites have it: binary log off, default server_id
    (on, with server_id 1, in the --backup shapes).
    Single-server: on 127.0.0.1 only, by the package's own 50-server.cnf (checked here)."""
    single = topo.shape.single_server
    addr = None if single else topo.host_address("db1")
    return (
        write_file("/etc/mysql/mariadb.conf.d/60-mwlab.cnf",
                   db_server_cnf(addr, topo.shape.db_port))
        + (DEBIAN_BIND_CHECK if single else "")
        # --backup: a school with nightly backups has its binary log on (backup.py).
        + (backup.db1_binlog_script() if topo.shape.has_backup else "")
        + "if [ ! -e /var/lib/mysql/.mwlab-initialised ]; then\n"
        "  service mariadb stop >/dev/null 2>&1 || true\n"
        "  find /var/lib/mysql -mindepth 1 -delete\n"
        "  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db"
        " >/dev/null\n"
        "  touch /var/lib/mysql/.mwlab-initialised\n"
        "fi\n"
        "service mariadb status >/dev/null 2>&1 || service mariadb start >/dev/null\n"
    )


# Debian's 50-server.cnf binds to 127.0.0.1; the single-server shape relies on it being so.
DEBIAN_BIND_CHECK = (
    "grep -Eq '^bind-address[[:space:]]*=[[:space:]]*127\\.0\\.0\\.1[[:space:]]*$' "
    "/etc/mysql/mariadb.conf.d/50-server.cnf || { echo 'mwlab: the single-server shape needs "
    "Debian'\\''s bind-address = 127.0.0.1 in /etc/mysql/mariadb.conf.d/50-server.cnf' >&2; "
    "exit 1; }\n"
)


def moodle_grant_hosts(topo: Topology) -> list[str]:
    """Where Moodle's DB user is granted from: each app host's address, or 'localhost' when
    Moodle runs on db1 (it connects over the socket, as a single-server install does)."""
    if topo.shape.single_server:
        return ["localhost"]
    return [topo.host_address(h.name) for h in topo.with_role("app")]


def db1_load_data(pid: int, data_mb: int, moodle_password: str,
                  grant_hosts: Sequence[str]) -> bool:
    """Create the Moodle schema and rows once; return True if it loaded them now."""
    marker = "/var/lib/mysql/.mwlab-moodle-loaded"
    if host_run(pid, ["test", "-e", marker], check=False).returncode == 0:
        ensure_moodle_user(pid, moodle_password, grant_hosts)
        return False
    sql = schema_sql() + data_sql(DataPlan.for_megabytes(data_mb))
    host_run(pid, ["mariadb"], input=sql.encode(), timeout=1800)
    ensure_moodle_user(pid, moodle_password, grant_hosts)
    host_run(pid, ["touch", marker])
    return True


def ensure_moodle_user(pid: int, password: str, grant_hosts: Sequence[str]) -> None:
    sql = "".join(
        moodle_user_sql(MOODLE_DB_USER, host)
        + f"ALTER USER '{MOODLE_DB_USER}'@'{host}' IDENTIFIED BY {sql_quote(password)};\n"
        for host in grant_hosts
    )
    host_run(pid, ["mariadb"], input=sql.encode())


def empty_db_script() -> str:
    """db2/db3: packages installed, no server running, empty datadir; a small footprint for
    when a server runs there (the admin's tuning, not the wizard's business)."""
    return (
        write_file("/etc/mysql/mariadb.conf.d/60-mwlab.cnf", replicas.SMALL_FOOTPRINT_CNF)
        +
        "if [ ! -e /etc/mysql/.mwlab-emptied ]; then\n"
        "  service mariadb stop >/dev/null 2>&1 || true\n"
        "  find /var/lib/mysql -mindepth 1 -delete\n"
        "  touch /etc/mysql/.mwlab-emptied\n"
        "fi\n"
    )


def config_php(topo: Topology, moodle_password: str) -> str:
    """Moodle's config.php, the same on every app host (a load-balanced site's are alike)."""
    single = topo.shape.single_server
    config = (
        lab_file("config.php.tmpl")
        .replace("@DBHOST@", "localhost" if single else topo.host_address("db1"))
        .replace("@DBUSER@", MOODLE_DB_USER)
        .replace("'@DBPASS@'", php_quote(moodle_password))
        .replace("@APPHOST@", topo.host_address("db1" if single else "app"))
    )
    if topo.shape.db_port != DEFAULT_DB_PORT:
        # As Moodle's config-dist.php documents it: the port in dboptions, dbhost unchanged.
        default_port = "  'dbport' => '',\n"
        assert config.count(default_port) == 1
        config = config.replace(default_port, f"  'dbport' => {topo.shape.db_port},\n")
    return config


def replica_script(topo: Topology, labdir: Path) -> str:
    """db2/db3 in the shape's --replicas state (see replicas.py for the other two)."""
    if topo.shape.replicas == "fresh-package":
        return replicas.fresh_package_script()
    if topo.shape.replicas == "bare":
        return replicas.bare_script(labdir)
    return empty_db_script()


def app_script(topo: Topology, moodle_password: str) -> str:
    config = config_php(topo, moodle_password)
    return (
        "mkdir -p /var/moodledata && chown www-data:www-data /var/moodledata\n"
        f"if [ ! -e {MOODLE_DIR}/config.php ]; then\n"
        + write_file(f"{MOODLE_DIR}/config.php", config, "0640")
        + f"  chown root:www-data {MOODLE_DIR}/config.php\n"
        "fi\n"
        + write_file(f"{MOODLE_DIR}/lib/setup.php", lab_file("setup.php"))
        + write_file("/usr/local/bin/moodle-probe", lab_file("moodle-probe"), "0755")
    )


def proxy_script(proxysql: str, python: str, pythonpath: str) -> str:
    """px1/px2: keepalived is installed (not running); ProxySQL is provided as the `proxysql`
    service, not running, with the package's first-start config — a real binary when the lab
    was given one, else the project's stand-in."""
    command = ""
    if proxysql == "stand-in":
        init = lab_file("proxysql.init").replace("@PYTHON@", python).replace(
            "@PYTHONPATH@", pythonpath)
        # The `proxysql` command a package installs: the wizard reads `proxysql --version`.
        command = write_file("/usr/local/bin/proxysql", "#!/bin/sh\nPYTHONPATH="
                             f"{shlex.quote(pythonpath)} exec {shlex.quote(python)} -m "
                             'moodle_wizard.lab.proxysql_standin "$@"\n', "0755")
    else:
        init = lab_file("proxysql-binary.init")
    return (
        command
        + write_file("/etc/init.d/proxysql", init, "0755")
        + "if [ ! -e /etc/proxysql.cnf ]; then\n"
        + write_file("/etc/proxysql.cnf", lab_file("proxysql.cnf"), "0644")
        + "fi\n"
        + "mkdir -p /var/lib/proxysql\n"
    )


def jump_script(topo: Topology, client_key: str, known_hosts: str, wizard: str) -> str:
    entries = []
    for h in topo.hosts:
        entries.append(
            f"Host {h.name}\n"
            f"    HostName {topo.host_address(h.name)}\n"
            "    User root\n"
            "    IdentityFile /root/.ssh/id_ed25519\n"
            "    IdentitiesOnly yes\n"
            "    StrictHostKeyChecking yes\n"
        )
    return (
        write_file("/root/.ssh/id_ed25519", client_key, "0600")
        + write_file("/root/.ssh/config", "\n".join(entries), "0600")
        + write_file("/root/.ssh/known_hosts", known_hosts, "0644")
        + f"ln -sfn {shlex.quote(wizard)} /usr/local/bin/moodle-wizard\n"
    )


def run_script(pid: int, script: str, timeout: float = 300) -> None:
    host_sh(pid, script, timeout=timeout)
