"""`moodle-wizard lab up|down|status`: build, check and remove the local lab."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from moodle_wizard.lab import backup, netns, provision, replicas
from moodle_wizard.lab.credentials import ensure_client_key, ensure_secrets, known_hosts
from moodle_wizard.lab.host import host_pid, host_run, read_pid, start_host
from moodle_wizard.lab.inventory_file import inventory_text
from moodle_wizard.lab.netns import lab_memory_kb as lab_memory_kb
from moodle_wizard.lab.system import (
    LabError,
    pids_in_netns,
    require_root,
    run,
    stop_pid,
    wait_until,
)
from moodle_wizard.lab.topology import ALL_HOST_NAMES, BRIDGE, Shape, Topology, veth_name

LABDIR = Path(os.environ.get("MWLAB_DIR", "/srv/mwlab"))
# The directory that holds the moodle_wizard package (the ProxySQL stand-in runs from it).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
REQUIRED_TOOLS = {
    "ip": "iproute2", "nsenter": "util-linux", "unshare": "util-linux",
    "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server",
    "mariadb": "mariadb-client", "mariadb-backup": "mariadb-backup", "sshd": "openssh-server",
    "ssh": "openssh-client", "ssh-keygen": "openssh-client", "keepalived": "keepalived",
    "php": "php-cli", "ps": "procps",
}
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class LabState:
    subnet: str
    data_mb: int
    proxysql: str
    hosts: dict[str, int] = field(default_factory=dict)
    built_at: float = 0.0
    # The shape it was built in (`lab up --shape/--replicas/--app-hosts/--db-port`); a
    # lab.json from before shapes has none of these: the default lab.
    layout: str = Shape.layout
    replicas: str = Shape.replicas
    app_hosts: int = Shape.app_hosts
    db_port: int = Shape.db_port
    backup: str = Shape.backup

    @property
    def shape(self) -> Shape:
        return Shape(self.layout, self.replicas, self.app_hosts, self.db_port, self.backup)

    @property
    def topology(self) -> Topology:
        return Topology.from_cidr(self.subnet, self.shape)

    def save(self, labdir: Path) -> None:
        tmp = labdir / "lab.json.tmp"
        tmp.write_text(json.dumps(self.__dict__, indent=2))
        os.replace(tmp, labdir / "lab.json")

    @classmethod
    def load(cls, labdir: Path) -> LabState | None:
        try:
            return cls(**json.loads((labdir / "lab.json").read_text()))
        except FileNotFoundError:
            return None


def check_same_shape(running: Shape, asked: Shape) -> None:
    """`lab up` repairs the lab in the shape it runs in; another shape needs a new lab."""
    if running != asked:
        was = f"`lab up {running.options()}`" if running.options() else "the default shape"
        want = (f"`lab up {asked.options()}`" if asked.options()
                else "the default shape (`lab up` without shape options)")
        raise LabError(f"the lab is already up in {was}; run `moodle-wizard lab down` before "
                       f"building it in {want}")


def check_packages() -> None:
    path = os.environ.get("PATH", "") + ":" + SBIN_PATH
    missing = sorted(
        {pkg for tool, pkg in REQUIRED_TOOLS.items() if not shutil.which(tool, path=path)}
    )
    if missing:
        raise LabError(
            f"packages missing for the lab: {' '.join(missing)}; install them with "
            "`make deps` (or apt-get install --no-install-recommends " + " ".join(missing) + ")"
        )


def find_proxysql(given: str | None) -> str:
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise LabError(f"--proxysql-bin {given}: not an executable file; give the path "
                           "of a real proxysql binary, or leave it out to use the stand-in")
        return given
    return shutil.which("proxysql") or "stand-in"


def check_standin(proxysql: str) -> None:
    """The stand-in runs on the proxy hosts with this interpreter and needs mysql-mimic, which
    only the `lab` extra installs: refused before anything is built, not at the migration's
    proxysql step, with the command that fixes it for this very install."""
    if proxysql != "stand-in" or importlib.util.find_spec("mysql_mimic") is not None:
        return
    raise LabError(
        "the lab's ProxySQL stand-in needs the Python package mysql-mimic, which this install "
        f"lacks; install it with `{sys.executable} -m pip install 'mysql-mimic>=3'` (pipx: "
        "`pipx inject moodle-wizard mysql-mimic`), or give --proxysql-bin PATH of a real "
        "proxysql")


def tcp_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def provision_host(topo: Topology, name: str, pid: int, pubkey: str, password: str,
                   proxysql: str, labdir: Path) -> None:
    script = provision.base_script(topo, name, pubkey)
    roles = topo.host(name).roles
    if "source" in roles:
        script += provision.db1_script(topo)
    elif "replica" in roles:
        script += provision.replica_script(topo, labdir)
    elif "backup" in roles:
        script += backup.host_script(labdir)
    if "app" in roles:
        script += provision.app_script(topo, password)
    elif "proxy" in roles:
        script += provision.proxy_script(proxysql, sys.executable, str(PROJECT_ROOT))
        if proxysql != "stand-in":
            host_run(pid, ["sh", "-c", "cat > /usr/local/bin/proxysql && chmod 0755 "
                           "/usr/local/bin/proxysql"], input=Path(proxysql).read_bytes())
    provision.run_script(pid, script)


def up(subnet: str | None, data_mb: int, proxysql_bin: str | None, out: object = sys.stdout,
       labdir: Path = LABDIR, shape: Shape | None = None) -> LabState:
    require_root()
    shape = (shape or Shape()).check()
    check_packages()
    previous = LabState.load(labdir)
    if previous:
        check_same_shape(previous.shape, shape)
    if previous and subnet and previous.subnet != subnet:
        raise LabError(f"the lab is already up on {previous.subnet}; run `moodle-wizard lab down` "
                       f"before building it on {subnet}")
    if previous and previous.data_mb != data_mb:
        raise LabError(f"the lab is already up with --data-mb {previous.data_mb}; run "
                       f"`moodle-wizard lab down` before building it with {data_mb}")
    topo = Topology.from_cidr(subnet or (previous.subnet if previous else None) or
                              Topology.from_cidr().subnet.with_prefixlen, shape)
    if data_mb < 1:
        raise LabError(f"--data-mb {data_mb}: give at least 1")
    proxysql = previous.proxysql if previous and not proxysql_bin else find_proxysql(proxysql_bin)
    if previous and proxysql != previous.proxysql:
        raise LabError(f"the lab is already up with ProxySQL {previous.proxysql}; run "
                       "`moodle-wizard lab down` before building it with another")
    check_standin(proxysql)
    if not previous:
        netns.check_subnet_free(topo)
        if labdir.exists() or netns.lab_netns() or netns.leftover_links():
            down(labdir=labdir, out=out)  # leftovers of a half-failed run: start clean
    try:
        return _build(topo, data_mb, proxysql, out, labdir)
    except BaseException:
        if not previous:
            print("lab up failed; removing what it built", file=sys.stderr)
            down(labdir=labdir, out=out, quiet=True)
        raise


def _say(out: object, text: str) -> None:
    # A reader that went away (`lab up | head`) must not undo a lab that was built.
    with contextlib.suppress(BrokenPipeError):
        print(text, file=out, flush=True)  # type: ignore[call-overload]


def _build(topo: Topology, data_mb: int, proxysql: str, out: object, labdir: Path) -> LabState:
    t0 = time.monotonic()
    labdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    shape = topo.shape
    state = LabState.load(labdir) or LabState(
        topo.subnet.with_prefixlen, data_mb, proxysql, layout=shape.layout,
        replicas=shape.replicas, app_hosts=shape.app_hosts, db_port=shape.db_port,
        backup=shape.backup)
    state.save(labdir)
    client_key, pubkey = ensure_client_key(labdir)
    password = ensure_secrets(labdir)["moodle_db_password"]
    if shape.replicas == "bare" or shape.has_backup:  # the backup host's packages too
        replicas.ensure_apt_repo(labdir)
    netns.ensure_bridge(topo)
    pids: dict[str, int] = {}
    for h in topo.hosts:
        netns.ensure_host_net(topo, h.name)
        pids[h.name] = host_pid(labdir, h.name) or start_host(
            labdir, h.name, private_usr=shape.private_usr_of(h))
    state.hosts = pids
    state.save(labdir)
    t_net = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(topo.hosts)) as pool:
        futures = [pool.submit(provision_host, topo, n, pids[n], pubkey, password, proxysql,
                               labdir) for n in topo.host_names]
        for fut in futures:
            fut.result()
    t_prov = time.monotonic()
    loaded = provision.db1_load_data(pids["db1"], data_mb, password,
                                     provision.moodle_grant_hosts(topo))
    t_data = time.monotonic()
    taken = backup.ensure(topo, pids, labdir, data_mb) if shape.has_backup else None
    t_backup = time.monotonic()
    hosts_file = known_hosts(topo, pids)
    (labdir / "ssh" / "known_hosts").write_text(hosts_file)
    wizard = str(Path(sys.executable).parent / "moodle-wizard")
    provision.run_script(pids["jump"], provision.jump_script(topo, client_key, hosts_file, wizard))
    write_machine_ssh_config(topo, labdir)
    for name in topo.host_names:
        addr = topo.host_address(name)
        wait_until(lambda a=addr: tcp_open(a, 22), 20, f"sshd on {name} ({addr})")
    state.built_at = time.time()
    state.save(labdir)
    inventory = inventory_path(labdir)
    total = time.monotonic() - t0
    _say(out, f"lab up on {topo.subnet} in {total:.1f} s (hosts {t_net - t0:.1f} s, services "
              f"{t_prov - t_net:.1f} s, Moodle data {t_data - t_prov:.1f} s"
              f"{'' if loaded else ', already loaded'}"
              f"{f', backups {t_backup - t_data:.1f} s' if taken else ''})")
    if not shape.is_default:
        _say(out, f"  {shape.describe()}")
    for h in topo.hosts:
        _say(out, f"  {h.name:<6} {topo.host_address(h.name):<13} {h.description}")
    _say(out, f"  VIP    {topo.vip:<13} (free; the wizard puts it on px1/px2)")
    _say(out, f"  ProxySQL: {proxysql}")
    _say(out, "reach it: moodle-wizard lab shell jump   (then: ssh db1, ssh app, ...)")
    _say(out, f"inventory for the wizard: {inventory}")
    if taken:
        for line in backup.summary_lines(taken, backup.write_inventories(topo, labdir)):
            _say(out, line)
    return state


def write_machine_ssh_config(topo: Topology, labdir: Path) -> None:
    """An ssh config for reaching the lab from the machine itself (tests, curious operators)."""
    ssh = labdir / "ssh"
    entries = [
        f"Host {h.name}\n    HostName {topo.host_address(h.name)}\n    User root\n"
        f"    IdentityFile {ssh / 'id_ed25519'}\n    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {ssh / 'known_hosts'}\n    StrictHostKeyChecking yes\n"
        for h in topo.hosts
    ]
    (ssh / "config").write_text("\n".join(entries))


def _lab_mounts(labdir: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(labdir))]


def down(labdir: Path = LABDIR, out: object = sys.stdout, quiet: bool = False) -> None:
    require_root()
    t0 = time.monotonic()
    stopped = 0
    for name in ALL_HOST_NAMES:
        pid = read_pid(labdir, name)
        if pid is not None and host_pid(labdir, name):
            stop_pid(pid)
            stopped += 1
    # Whatever still runs in a lab namespace (a half-built host, a stray nsenter): by pid.
    for ns in netns.lab_netns():
        inode = netns.netns_inode(ns)
        if inode is not None:
            for pid in pids_in_netns(inode):
                stop_pid(pid)
                stopped += 1
    # Every removal is tried even when one fails, so that one stuck piece does not leave
    # the rest of the lab behind; what failed is reported together at the end.
    failed: list[str] = []

    def attempt(removal: Callable[[], object]) -> None:
        try:
            removal()
        except (LabError, OSError) as exc:
            failed.append(str(exc))

    for ns in netns.lab_netns():
        attempt(partial(netns.delete_netns, ns))
    for name in ALL_HOST_NAMES:
        attempt(partial(netns.delete_link, veth_name(name)))
    attempt(partial(netns.delete_link, BRIDGE))
    for mount in reversed(_lab_mounts(labdir)):
        run(["umount", "-l", mount], check=False)
    if labdir.exists():
        attempt(partial(shutil.rmtree, labdir))
    leftovers = verify_gone(labdir)
    if leftovers or failed:
        raise LabError("lab down left things behind: " + "; ".join([*failed, *leftovers]))
    if not quiet:
        _say(out, f"lab down: stopped {stopped} host(s), removed namespaces, links and "
                  f"{labdir} in {time.monotonic() - t0:.1f} s; nothing left")


def verify_gone(labdir: Path = LABDIR) -> list[str]:
    left = []
    if netns.lab_netns():
        left.append("namespaces " + ", ".join(netns.lab_netns()))
    if netns.leftover_links():
        left.append("links " + ", ".join(netns.leftover_links()))
    if _lab_mounts(labdir):
        left.append("mounts " + ", ".join(_lab_mounts(labdir)))
    if labdir.exists():
        left.append(f"directory {labdir}")
    return left


@dataclass
class HostStatus:
    name: str
    address: str
    pid: int | None
    ssh: bool
    services: dict[str, bool]


def status(labdir: Path = LABDIR) -> tuple[LabState | None, list[HostStatus]]:
    state = LabState.load(labdir)
    if state is None:
        return None, []
    topo = state.topology
    result = []
    for h in topo.hosts:
        pid = host_pid(labdir, h.name)
        addr = topo.host_address(h.name)
        services: dict[str, bool] = {}
        if pid and h.name == "db1":
            services["mariadb"] = _mariadb_answers(pid, addr, topo.shape)
        if pid and h.role == "backup":
            services["backups"] = backup.present(pid)
        result.append(HostStatus(h.name, addr, pid, bool(pid) and tcp_open(addr, 22), services))
    return state, result


def _mariadb_answers(pid: int, addr: str, shape: Shape) -> bool:
    if not shape.single_server:
        return tcp_open(addr, shape.db_port)
    # Bound to 127.0.0.1: only a client on db1 itself can tell.
    return host_run(pid, ["mariadb-admin", "--connect-timeout=2", "ping"], check=False,
                    timeout=10).returncode == 0


def require_up(labdir: Path = LABDIR) -> LabState:
    state = LabState.load(labdir)
    if state is None:
        raise LabError("the lab is not up; start it with `moodle-wizard lab up`")
    return state


def pid_of(host: str, labdir: Path = LABDIR) -> int:
    require_up(labdir).topology.host(host)  # raises a clear error for an unknown host name
    pid = host_pid(labdir, host)
    if pid is None:
        raise LabError(
            f"lab host {host} is not running; repair the lab with `moodle-wizard lab up`"
        )
    return pid


def inventory_path(labdir: Path = LABDIR) -> Path:
    """Write the lab's inventory (TOML; the engine issue defines the final format)."""
    state = require_up(labdir)
    path = labdir / "inventory.toml"
    path.write_text(inventory_text(state.topology, labdir))
    return path
