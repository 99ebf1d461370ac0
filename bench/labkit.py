"""The lab as the benchmark uses it: bring it up at a data size, run things on its hosts, drive
the wizard on jump with a state directory of its own."""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from moodle_wizard.lab import lab
from moodle_wizard.lab.host import exec_argv, host_pid

INVENTORY = "/srv/mwlab/inventory.toml"
ROOT = Path(__file__).resolve().parent.parent


def ensure_lab(data_mb: int) -> bool:
    """The lab up with `data_mb` of Moodle data; True when this call had to (re)build it."""
    previous = lab.LabState.load(lab.LABDIR)
    if previous is not None and previous.data_mb == data_mb:
        lab.up(None, data_mb, None, out=io.StringIO())  # repair, if anything is missing
        return False
    if previous is not None:
        lab.down(out=io.StringIO())
    lab.up(None, data_mb, None, out=io.StringIO())
    return True


def run(host: str, *argv: str, input: bytes | None = None, check: bool = True,
        timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    pid = host_pid(lab.LABDIR, host)
    if pid is None:
        raise RuntimeError(f"lab host {host} is not running")
    proc = subprocess.run(exec_argv(pid, argv), input=input, capture_output=True,
                          timeout=timeout)
    out = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                      proc.stderr.decode())
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)[:200]} on {host} failed ({proc.returncode}): "
                           f"{out.stderr[-2000:]}{out.stdout[-2000:]}")
    return out


def sh(host: str, script: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run(host, "bash", "-c", script, **kw)


def wait_for(what: str, check: Callable[[], Any], timeout: float, poll: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(poll)


@dataclass
class Wizard:
    """`moodle-wizard` on jump, with its own state directory and inventory copies."""

    state_dir: str = field(default_factory=lambda: f"/root/mw-bench-{secrets.token_hex(4)}")
    files: list[str] = field(default_factory=list)

    def argv(self, *args: str) -> list[str]:
        # The wizard measured is the code beside this benchmark (as the lab tests do), not
        # whichever checkout the lab's `moodle-wizard` was installed from.
        return ["env", f"MOODLE_WIZARD_STATE_DIR={self.state_dir}", f"PYTHONPATH={ROOT}",
                "moodle-wizard", *args]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("jump", *self.argv(*args), check=check)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        pid = host_pid(lab.LABDIR, "jump")
        assert pid is not None
        return subprocess.Popen(exec_argv(pid, self.argv(*args)), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(run("jump", "cat",
                                              f"{self.state_dir}/mwlab.json").stdout)
        return data

    def inventory(self, *, method: str = "physical", replicas: tuple[str, ...] = ("db2", "db3"),
                  ) -> str:
        """The lab's inventory with another backup method and a subset of the replicas."""
        text = run("jump", "cat", INVENTORY).stdout
        text = text.replace('backup_method = "physical"', f'backup_method = "{method}"')
        for host in ("db2", "db3"):
            if host not in replicas:
                block = (f'[hosts.{host}]\naddress = "{lab_address(host)}"\nrole = "replica"\n'
                         'ssh_user = "root"\nssh_port = 22\n')
                assert block in text, block
                text = text.replace(block, "")
        path = f"/srv/mwlab/bench-{method}-{'-'.join(replicas)}-{secrets.token_hex(3)}.toml"
        run("jump", "sh", "-c", f"cat > {path}", input=text.encode())
        self.files.append(path)
        return path

    def migration_inventory(self, order: str | None = None) -> str:
        """The lab's inventory as a benchmark migrates with it: the source's restart allowed
        in advance (`run --yes` refuses it otherwise), and `order` if given."""
        text = run("jump", "cat", INVENTORY).stdout.replace(
            'source_restart = "ask"', 'source_restart = "allow"')
        if order is not None:
            text = text.replace("[migration]\n", f'[migration]\norder = "{order}"\n', 1)
        path = f"/srv/mwlab/bench-{order or 'auto'}-{secrets.token_hex(3)}.toml"
        run("jump", "sh", "-c", f"cat > {path}", input=text.encode())
        self.files.append(path)
        return path

    def clean(self) -> None:
        run("jump", "rm", "-rf", self.state_dir, *self.files, check=False)


def lab_address(host: str) -> str:
    state = lab.LabState.load(lab.LABDIR)
    assert state is not None
    from moodle_wizard.lab.topology import Topology
    return Topology.from_cidr(state.subnet).host_address(host)


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def seconds(a: str, b: str) -> float:
    return stamp(b) - stamp(a)


def action_times(state: dict[str, Any], step: str) -> dict[str, tuple[str, str]]:
    """(started_at, finished_at) of each journaled action of a step."""
    return {a["id"]: (a["started_at"], a["finished_at"])
            for a in state["steps"][step].get("actions") or []
            if a.get("started_at") and a.get("finished_at")}


def step_seconds(state: dict[str, Any]) -> dict[str, float]:
    return {name: round(seconds(s["started_at"], s["finished_at"]), 2)
            for name, s in state["steps"].items()
            if s.get("started_at") and s.get("finished_at")}
