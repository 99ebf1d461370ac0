"""The operator's ~/.ssh/config as `ssh NAME` reads it (issue 17 item 3), on real hosts.

The wizard runs on jump with a HOME of the test's own, whose ~/.ssh/config has `Host px2`
(User: a user with passwordless sudo, IdentityFile, ProxyJump jump) and `Host app` (Port: an
sshd moved to another port for the test). The inventory sets no ssh_user or ssh_port for
those two. Discovery and the proxysql step (proxy-first: prepare-source before it) must work,
every command on px2 must have run through `sudo -n` (the audit log says so), app must have
been reached on its port, and the rollback must work the same way. Without the config, px2
would be reached as root (no sudo in the audit) and app on 22 (refused while it is moved).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from moodle_wizard.lab import lab
from moodle_wizard.lab.system import wait_until
from tests.lab.conftest import Lab
from tests.lab.wizard import ALLOW_RESTART, Wizard

SUDO_HOST, SUDO_USER = "px2", "mwsudo"
PORT_HOST, PORT = "app", 2222
SUDOERS = "/etc/sudoers.d/mwtest-ssh-config"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/mwtest-port.conf"


def _drop_user(lab_: Lab) -> None:
    lab_.exec(SUDO_HOST, "sh", "-c", f"rm -f {SUDOERS}; if id {SUDO_USER} >/dev/null 2>&1; "
                                     f"then userdel -r {SUDO_USER} 2>/dev/null; fi; true")


@pytest.fixture
def sudo_user(running_lab: Lab) -> Iterator[None]:
    """A user on px2 who logs in with the lab's key and has passwordless sudo."""
    _drop_user(running_lab)
    pub = (lab.LABDIR / "ssh" / "id_ed25519.pub").read_bytes()
    running_lab.exec(SUDO_HOST, "sh", "-euc", f"""
        useradd -m -s /bin/sh {SUDO_USER}
        install -d -m 700 -o {SUDO_USER} -g {SUDO_USER} /home/{SUDO_USER}/.ssh
        cat > /home/{SUDO_USER}/.ssh/authorized_keys
        chown {SUDO_USER}: /home/{SUDO_USER}/.ssh/authorized_keys
        chmod 600 /home/{SUDO_USER}/.ssh/authorized_keys
        echo '{SUDO_USER} ALL=(ALL) NOPASSWD: ALL' > {SUDOERS}
        chmod 440 {SUDOERS}
        """, input=pub)
    try:
        yield
    finally:
        _drop_user(running_lab)


def _sshd_on(lab_: Lab, port: int) -> None:
    lab_.exec(PORT_HOST, "service", "ssh", "restart")
    address = lab_.topo.host_address(PORT_HOST)
    wait_until(lambda: lab.tcp_open(address, port), 20, f"sshd on {PORT_HOST}:{port}")


@pytest.fixture
def moved_sshd(running_lab: Lab) -> Iterator[None]:
    """app's sshd on PORT only, for the test; back on 22 after it."""
    running_lab.exec(PORT_HOST, "sh", "-c", f"echo 'Port {PORT}' > {SSHD_DROPIN}")
    try:
        _sshd_on(running_lab, PORT)
        yield
    finally:
        running_lab.exec(PORT_HOST, "rm", "-f", SSHD_DROPIN)
        _sshd_on(running_lab, 22)


def _operator_home(lab_: Lab) -> str:
    """A HOME on jump with the operator's ~/.ssh: config and known_hosts."""
    home = f"/root/mw-sshcfg-{secrets.token_hex(4)}"
    config = (f"Host {SUDO_HOST}\n    User {SUDO_USER}\n    IdentityFile /root/.ssh/id_ed25519\n"
              f"    ProxyJump jump\n\n"
              f"Host {PORT_HOST}\n    Port {PORT}\n\n"
              "Host *\n    IdentityFile /root/.ssh/id_ed25519\n    IdentitiesOnly yes\n")
    known = []
    for line in (lab.LABDIR / "ssh" / "known_hosts").read_text().splitlines():
        names, key = line.split(" ", 1)
        if names.split(",")[0] == PORT_HOST:  # as ssh records a host on another port
            names = ",".join(f"[{n}]:{PORT}" for n in names.split(","))
        known.append(f"{names} {key}")
    lab_.exec("jump", "sh", "-euc", f"""
        install -d -m 700 {home} {home}/.ssh
        printf '%s' "$1" > {home}/.ssh/config
        printf '%s\\n' "$2" > {home}/.ssh/known_hosts
        """, "sh", config, "\n".join(known))
    return home


def _without_ssh_settings(text: str, host: str) -> str:
    block = text.index(f"[hosts.{host}]\n")
    end = text.find("\n[", block + 1)
    end = len(text) if end < 0 else end
    part = text[block:end]
    assert 'ssh_user = "root"\n' in part and "ssh_port = 22" in part, part
    return text[:block] + part.replace('ssh_user = "root"\n', "").replace(
        "ssh_port = 22\n", "").replace("ssh_port = 22", "") + text[end:]


def test_the_operators_ssh_config_applies_user_port_and_jump(
        running_lab: Lab, sudo_user: None, moved_sshd: None) -> None:
    lab_ = running_lab
    app_address = lab_.topo.host_address(PORT_HOST)
    assert not lab.tcp_open(app_address, 22), "app's sshd still answers on 22"
    home = _operator_home(lab_)
    with Wizard(lab_) as wizard:
        wizard.files.append(home)
        path = wizard.inventory("ssh-config", **ALLOW_RESTART)
        text = lab_.exec("jump", "cat", path).stdout
        for host in (SUDO_HOST, PORT_HOST):
            text = _without_ssh_settings(text, host)
        lab_.exec("jump", "sh", "-c", f"cat > {path}", input=text.encode())
        env = {"HOME": home}
        started = time.monotonic()
        run = wizard("run", "--inventory", path, "--yes", "--until", "proxysql", env=env)
        ran = time.monotonic() - started
        try:
            assert run.returncode == 0, run.stdout + run.stderr
            steps = {n: s["status"] for n, s in wizard.state()["steps"].items()}
            assert steps["discover"] == steps["proxysql"] == "done", steps
        finally:
            back = wizard("rollback", "--yes", env=env)
        assert back.returncode == 0, back.stdout + back.stderr
        audit = lab_.exec("jump", "cat", f"{wizard.state_dir}/mwlab.audit.log").stdout
    on = {h: [line.split(" ssh: ", 1)[1] for line in audit.splitlines()
              if f" {h} ssh: " in line] for h in (SUDO_HOST, PORT_HOST)}
    # px2: the sudo check when the connection opened, then every command through sudo -n
    # (the port forwards to ProxySQL's admin interface are no commands)
    assert on[SUDO_HOST][0].startswith(f"sudo -n true   # as {SUDO_USER}"), on[SUDO_HOST][:3]
    commands = [c for c in on[SUDO_HOST] if not c.startswith("forward ")]
    assert len(commands) > 10, commands
    assert all(c.startswith("sudo -n ") for c in commands), [
        c for c in commands if not c.startswith("sudo -n ")][:5]
    assert any("proxysql" in c for c in commands), commands[:20]
    # app: reached on PORT (22 was closed all along), its commands as root, as before
    assert on[PORT_HOST] and not any(c.startswith("sudo") for c in on[PORT_HOST])
    # the proxysql step's rollback ran on px2 through sudo as well: ProxySQL is stopped there
    assert lab_.exec(SUDO_HOST, "service", "proxysql", "status", check=False).returncode != 0
    print(f"\nrun --until proxysql in {ran:.1f} s; {SUDO_HOST}: {len(commands)} commands as "
          f"{SUDO_USER} through sudo -n (run and rollback); {PORT_HOST}: {len(on[PORT_HOST])} "
          f"commands on port {PORT}")
