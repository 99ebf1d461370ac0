"""Figure 6: TUI cold start - from spawning `moodle-wizard` to its first screen painted.

Each sample is a new process under a pseudo-terminal (120x40, xterm-256color) with empty
HOME/XDG/state directories, so no saved migration changes what the welcome screen shows. The
clock stops when the pty output (escape sequences stripped) holds the welcome screen's
sub-title, its menu's first option and the footer's last item: the first screen has been
painted, not merely started. Target: median <= 1.0 s.

The package is compiled to bytecode first, as `pip install` does: a shell with
PYTHONDONTWRITEBYTECODE=1 (this machine's) would otherwise make every sample compile the whole
wizard from source, which no installed wizard does.

Run: .venv/bin/python -m bench.tui_start [REPS]
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WIZARD = ROOT / ".venv" / "bin" / "moodle-wizard"
PYTHON = ROOT / ".venv" / "bin" / "python"
COLUMNS, ROWS = 120, 40
TARGET_S = 1.0
# All three are in the welcome screen's first frame: its header's sub-title (set in on_mount),
# its menu's first option and the footer's last item at the bottom right, the last text of the
# frame. Textual writes a frame at once, so when all three are out the screen is painted.
FIRST_SCREEN_MARKERS = (b"1/9 Welcome", b"Start a new migration", b"^p palette")
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 5.0
QUIT_KEY = b"\x11"  # ctrl+q, the app's priority quit binding

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST) and two-byte escapes. Stripped so that
# markers match even when Textual interleaves style changes within a line.
_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def _strip_ansi(data: bytes) -> bytes:
    return _ANSI.sub(b"", data)


def _isolated_env(tmp: Path) -> dict[str, str]:
    """An environment in which the app finds no user state, config or cache."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MOODLE_WIZARD_", "TEXTUAL", "XDG_"))
           and k not in ("COLUMNS", "LINES")}
    for sub in ("home", "state", "config", "data", "cache", "runtime"):
        (tmp / sub).mkdir(mode=0o700)
    env.update(
        HOME=str(tmp / "home"),
        XDG_STATE_HOME=str(tmp / "state"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        XDG_RUNTIME_DIR=str(tmp / "runtime"),
        MOODLE_WIZARD_STATE_DIR=str(tmp / "state" / "moodle-wizard"),
        TERM="xterm-256color",
        COLORTERM="truecolor",
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _compile_package() -> None:
    """Bytecode for the moodle_wizard the samples import (the same environment finds the same
    package), as an install leaves it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(PYTHON), "-c", "import compileall, pathlib, moodle_wizard; "
                    "compileall.compile_dir(pathlib.Path(moodle_wizard.__file__).parent, "
                    "quiet=1)"], env=env, check=True)


def _peak_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def _read_available(fd: int, timeout: float) -> bytes | None:
    """What the pty has within timeout: b"" if nothing yet, None at end of output."""
    ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
    if not ready:
        return b""
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: the child closed its side of the pty
        return None
    return data if data else None


def _stop(proc: subprocess.Popen[bytes], master: int) -> None:
    """Quit key first (the app's own exit path); then SIGTERM, then SIGKILL, by pid only.
    The pty is drained all the while so the app's shutdown output never blocks it."""
    with contextlib.suppress(OSError):  # the app may already be gone
        os.write(master, QUIT_KEY)
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and proc.poll() is None:
            os.kill(proc.pid, sig)
        deadline = time.monotonic() + STOP_DEADLINE_S
        while proc.poll() is None and time.monotonic() < deadline:
            if _read_available(master, 0.05) is None:
                break
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def measure_once(tmp: Path) -> tuple[float, float | None]:
    """One cold start: (seconds to first screen painted, peak RSS in MB)."""
    env = _isolated_env(tmp)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    seen = b""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(WIZARD)], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=str(tmp),
        start_new_session=True, close_fds=True,
        # The pty becomes the child's controlling terminal, as in a real login.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        elapsed: float | None = None
        while time.monotonic() < deadline:
            data = _read_available(master, deadline - time.monotonic())
            if data is None:
                break
            seen += data
            plain = _strip_ansi(seen)
            if all(marker in plain for marker in FIRST_SCREEN_MARKERS):
                elapsed = time.perf_counter() - t0
                break
        if elapsed is None:
            tail = _strip_ansi(seen)[-500:].decode(errors="replace")
            raise RuntimeError(f"first screen not painted within {START_DEADLINE_S} s "
                               f"(exit {proc.poll()}); last output: {tail!r}")
        rss = _peak_rss_mb(proc.pid)
        return elapsed, rss
    finally:
        _stop(proc, master)
        os.close(master)


def measure_tui_start(reps: int = 5) -> dict[str, Any]:
    """Cold-start samples (seconds), median, max, peak RSS (MB) and the versions measured."""
    if not WIZARD.exists():
        raise FileNotFoundError(f"{WIZARD} not found: install the package into .venv first")
    _compile_package()
    samples: list[float] = []
    rss: list[float] = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory(prefix="mw-bench-tui-") as tmp:
            elapsed, peak = measure_once(Path(tmp))
        samples.append(elapsed)
        if peak is not None:
            rss.append(peak)
    median = statistics.median(samples)
    return {
        "figure": 6,
        "name": "TUI start: cold start to first screen painted",
        "target_s": TARGET_S,
        "samples_s": samples,
        "median_s": median,
        "max_s": max(samples),
        "meets_target": median <= TARGET_S,
        "peak_rss_mb": max(rss) if rss else None,
        "peak_rss_samples_mb": rss,
        "terminal": f"{COLUMNS}x{ROWS} xterm-256color",
        "python": sys.version.split()[0],
        "textual": importlib.metadata.version("textual"),
    }


def main(argv: list[str]) -> int:
    reps = int(argv[1]) if len(argv) > 1 else 5
    result = measure_tui_start(reps)
    print(f"Figure 6 - {result['name']} (target <= {TARGET_S:.1f} s)")
    print(f"  python {result['python']}, textual {result['textual']}, "
          f"terminal {result['terminal']}")
    print("  samples: " + ", ".join(f"{s:.3f}" for s in result["samples_s"]) + " s")
    print(f"  median:  {result['median_s']:.3f} s   max: {result['max_s']:.3f} s   "
          f"-> {'meets' if result['meets_target'] else 'MISSES'} the target")
    if result["peak_rss_mb"] is not None:
        print(f"  peak RSS (VmHWM): {result['peak_rss_mb']:.1f} MB")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
