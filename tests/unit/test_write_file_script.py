"""The remote side of RemoteHost.write_file (how the cutover replaces config.php), run here by
a real shell (issue 10, item 13): the temp file next to the target, which holds the new text
(config.php: Moodle's password), is removed when the command is stopped (TERM from `timeout`,
HUP), and a transfer cut short (stdin ends early: the connection dropped) replaces nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.remote.ssh import RemoteHost, SshTarget

NEW = b"<?php $CFG->dbpass = 'NEW-pw';\n" * 100


async def script(monkeypatch: pytest.MonkeyPatch, path: Path, data: bytes) -> list[str]:
    captured: list[list[str]] = []

    async def exec_(self: RemoteHost, argv: Sequence[str], input: Any, **_: Any) -> Any:
        captured.append(list(argv))
        return 0, b"", b""

    monkeypatch.setattr(RemoteHost, "_exec", exec_)
    host = RemoteHost(SshTarget(name="app", address="127.0.0.1"), None, None)  # type: ignore[arg-type]
    await host.write_file(str(path), data, mode=0o640)
    return captured[0]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".mw-" in p.name)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_a_stopped_write_leaves_no_temp_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sig: signal.Signals) -> None:
    target = tmp_path / "config.php"
    target.write_bytes(b"<?php // the original\n")
    argv = await script(monkeypatch, target, NEW)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(NEW[:100])
    proc.stdin.flush()
    deadline = time.monotonic() + 10
    # Mid-transfer: the temp file has some of the data (so the script's traps are set: a
    # signal between mktemp and the traps is a window this test must not aim at).
    while not any((tmp_path / name).stat().st_size for name in leftovers(tmp_path)):
        assert time.monotonic() < deadline, "the temp file was created and written to"
        time.sleep(0.01)
    os.killpg(proc.pid, sig)  # as `timeout` does: the whole process group
    proc.wait(timeout=10)
    assert proc.returncode != 0
    assert leftovers(tmp_path) == []
    assert target.read_bytes() == b"<?php // the original\n"


async def test_a_short_transfer_replaces_nothing(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    target = tmp_path / "config.php"
    target.write_bytes(b"<?php // the original\n")
    argv = await script(monkeypatch, target, NEW)
    proc = subprocess.run(argv, input=NEW[:1000], capture_output=True, timeout=10)
    assert proc.returncode != 0 and b"did not all arrive" in proc.stderr
    assert target.read_bytes() == b"<?php // the original\n"
    assert leftovers(tmp_path) == []
    whole = subprocess.run(argv, input=NEW, capture_output=True, timeout=10)
    assert whole.returncode == 0, whole.stderr
    assert target.read_bytes() == NEW and oct(target.stat().st_mode & 0o777) == "0o640"
