"""What each lab host carries: shell scripts run inside the host, idempotent."""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path

from moodle_wizard.lab.host import host_run, host_sh
from moodle_wizard.lab.moodle_data import DataPlan, data_sql, moodle_user_sql, schema_sql
from moodle_wizard.lab.topology import HOSTS, Topology

MOODLE_DIR = "/var/www/moodle"
MOODLE_DB_USER = "moodleuser"


def lab_file(name: str) -> str:
    return resources.files("moodle_wizard.lab").joinpath("files", name).read_text()


def php_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_file(path: str, content: str, mode: str = "0644") -> str:
    """Shell that writes content to path (via a quoted heredoc: no expansion)."""
    marker = "MWLAB_EOF_7f3a"
    assert marker not in content
    return (
        f"mkdir -p {shlex.quote(str(Path(path).parent))}\n"
        f"cat > {shlex.quote(path)} <<'{marker}'\n{content}"
        f"{'' if content.endswith(chr(10)) else chr(10)}{marker}\n"
        f"chmod {mode} {shlex.quote(path)}\n"
    )


def etc_hosts(topo: Topology) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{topo.host_address(h.name)}\t{h.name}" for h in HOSTS]
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


def db_server_cnf(addr: str) -> str:
    return (
        "# mwlab: small footprint, listen on the host's address\n"
        "[mysqld]\n"
        f"bind-address = {addr}\n"
        "innodb_buffer_pool_size = 32M\n"
        "innodb_log_file_size = 48M\n"
        "performance_schema = OFF\n"
        "skip-name-resolve\n"
    )


def db1_script(topo: Topology) -> str:
    """A standalone Moodle database as most sites have it: binary log off, default server_id."""
    return (
        write_file("/etc/mysql/mariadb.conf.d/60-mwlab.cnf",
                   db_server_cnf(topo.host_address("db1")))
        + "if [ ! -e /var/lib/mysql/.mwlab-initialised ]; then\n"
        "  service mariadb stop >/dev/null 2>&1 || true\n"
        "  find /var/lib/mysql -mindepth 1 -delete\n"
        "  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db"
        " >/dev/null\n"
        "  touch /var/lib/mysql/.mwlab-initialised\n"
        "fi\n"
        "service mariadb status >/dev/null 2>&1 || service mariadb start >/dev/null\n"
    )


def db1_load_data(pid: int, data_mb: int, moodle_password: str, app_address: str) -> bool:
    """Create the Moodle schema and rows once; return True if it loaded them now."""
    marker = "/var/lib/mysql/.mwlab-moodle-loaded"
    if host_run(pid, ["test", "-e", marker], check=False).returncode == 0:
        ensure_moodle_user(pid, moodle_password, app_address)
        return False
    sql = schema_sql() + data_sql(DataPlan.for_megabytes(data_mb))
    host_run(pid, ["mariadb"], input=sql.encode(), timeout=1800)
    ensure_moodle_user(pid, moodle_password, app_address)
    host_run(pid, ["touch", marker])
    return True


def ensure_moodle_user(pid: int, password: str, app_address: str) -> None:
    sql = moodle_user_sql(MOODLE_DB_USER, app_address) + (
        f"ALTER USER '{MOODLE_DB_USER}'@'{app_address}' IDENTIFIED BY {sql_quote(password)};\n"
    )
    host_run(pid, ["mariadb"], input=sql.encode())


def empty_db_script() -> str:
    """db2/db3: packages installed, no server running, empty datadir; a small footprint for
    when a server runs there (the admin's tuning, not the wizard's business)."""
    return (
        write_file("/etc/mysql/mariadb.conf.d/60-mwlab.cnf",
                   "# mwlab: small footprint\n[mysqld]\ninnodb_buffer_pool_size = 32M\n"
                   "innodb_log_file_size = 48M\nperformance_schema = OFF\nskip-name-resolve\n")
        +
        "if [ ! -e /etc/mysql/.mwlab-emptied ]; then\n"
        "  service mariadb stop >/dev/null 2>&1 || true\n"
        "  find /var/lib/mysql -mindepth 1 -delete\n"
        "  touch /etc/mysql/.mwlab-emptied\n"
        "fi\n"
    )


def app_script(topo: Topology, moodle_password: str) -> str:
    config = (
        lab_file("config.php.tmpl")
        .replace("@DBHOST@", topo.host_address("db1"))
        .replace("@DBUSER@", MOODLE_DB_USER)
        .replace("'@DBPASS@'", php_quote(moodle_password))
        .replace("@APPHOST@", topo.host_address("app"))
    )
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
    if proxysql == "stand-in":
        init = lab_file("proxysql.init").replace("@PYTHON@", python).replace(
            "@PYTHONPATH@", pythonpath)
    else:
        init = lab_file("proxysql-binary.init")
    return (
        write_file("/etc/init.d/proxysql", init, "0755")
        + "if [ ! -e /etc/proxysql.cnf ]; then\n"
        + write_file("/etc/proxysql.cnf", lab_file("proxysql.cnf"), "0644")
        + "fi\n"
        + "mkdir -p /var/lib/proxysql\n"
    )


def jump_script(topo: Topology, client_key: str, known_hosts: str, wizard: str) -> str:
    entries = []
    for h in HOSTS:
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
