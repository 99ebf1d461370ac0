"""The lab's credentials: the operator's SSH key, the secrets file (also the wizard's secrets
file for the lab) and the hosts' known_hosts lines."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from moodle_wizard.lab.host import host_run
from moodle_wizard.lab.system import run
from moodle_wizard.lab.topology import Topology

__all__ = ["ensure_client_key", "ensure_secrets", "known_hosts", "lab_password"]


def ensure_client_key(labdir: Path) -> tuple[str, str]:
    key = labdir / "ssh" / "id_ed25519"
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mwlab-operator", "-f", str(key)])
    return key.read_text(), key.with_suffix(".pub").read_text()


def lab_password(tag: str) -> str:
    # Quotes, a backslash, a dollar, a space and a non-ASCII letter: the lab's passwords
    # exercise every layer's quoting on every run.
    return f"{tag}-{secrets.token_urlsafe(12)} q'd\"b\\s$(x)é"


def ensure_secrets(labdir: Path) -> dict[str, str]:
    """The lab's secrets file (0600, JSON), also the wizard's secrets file for the lab."""
    path = labdir / "secrets.json"
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted: dict[str, Callable[[], str]] = {
        # The Moodle password lives in config.php (as on a real site); kept plain so that
        # the lab's own provisioning stays simple.
        "moodle_db_password": lambda: secrets.token_urlsafe(18),
        "replication_password": lambda: lab_password("repl"),
        "monitor_password": lambda: lab_password("mon"),
    }
    missing = {k: make() for k, make in wanted.items() if k not in data}
    if missing:
        data.update(missing)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    return data


def known_hosts(topo: Topology, pids: dict[str, int]) -> str:
    lines = []
    for h in topo.hosts:
        pub = host_run(pids[h.name], ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.decode()
        keytype, keydata = pub.split()[:2]
        lines.append(f"{h.name},{topo.host_address(h.name)} {keytype} {keydata}")
    return "\n".join(lines) + "\n"
