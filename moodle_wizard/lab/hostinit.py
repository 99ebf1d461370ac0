"""PID 1 of one lab host.

Started by the lab as `ip netns exec NS unshare --mount --uts --pid --fork python hostinit.py
HOST LABDIR [private-usr]`. It gives the host a private writable view of the directories
Debian's services write to (overlays on the machine's own files), its hostname and its own
/proc, then reaps
orphans until it is told to stop. When it exits the kernel kills every process left in the
host's PID namespace, so stopping this one pid stops the whole host.

Standalone on purpose: it imports nothing from the project, so it starts fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

# Every directory a Debian service or an operator writes to. /usr/local too, so a host can
# carry its own tools (moodle-probe on app) without touching the machine.
OVERLAID = ("/etc", "/var", "/run", "/root", "/tmp", "/home", "/usr/local")
# A host whose packages are its own (a replica host the lab purged the server from, or runs a
# package script on) gets /usr too; mounted before /usr/local, which then lies on top of it.
PRIVATE_USR = "/usr"
PRIVATE_USR_MARKER = "/usr/.mwlab-private-usr"
STOP_GRACE_S = 10.0
HANDLED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def outer_pid() -> int:
    # Read before /proc is remounted: NSpid lists this process's pid in every PID namespace
    # from the machine's down, and the machine's is the one the lab can signal.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[1])
    raise RuntimeError("no NSpid in /proc/self/status")


def overlay(path: str, base: str) -> None:
    name = path.strip("/").replace("/", "_")
    upper = os.path.join(base, "upper", name)
    work = os.path.join(base, "work", name)
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    # Daemons refuse an upper root whose mode differs from the lower one (/tmp is 1777).
    st = os.stat(path)
    os.chown(upper, st.st_uid, st.st_gid)
    os.chmod(upper, st.st_mode & 0o7777)
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={path},upperdir={upper},workdir={work}", path],
        check=True,
    )


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop() -> None:
    # kill(-1) from PID 1 of a namespace reaches every process of that namespace only.
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        reap()
        if not any(p.isdigit() and p != "1" for p in os.listdir("/proc")):
            break
        time.sleep(0.05)  # polling the process table against a deadline, not a timing guess
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)
    sys.exit(0)


def main() -> None:
    host, labdir = sys.argv[1], sys.argv[2]
    private_usr = sys.argv[3:] == ["private-usr"]
    pid = outer_pid()
    base = os.path.join(labdir, "hosts", host)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    paths = list(OVERLAID)
    if private_usr:
        paths.insert(paths.index("/usr/local"), PRIVATE_USR)
    for path in paths:
        overlay(path, base)
        if path == PRIVATE_USR:
            # What the lab's package scripts check before they change anything under /usr.
            with open(PRIVATE_USR_MARKER, "w") as f:
                f.write("this host's /usr is an overlay of its own\n")
    subprocess.run(["mount", "-t", "proc", "proc", "/proc"], check=True)
    socket.sethostname(host)
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    pidfile = os.path.join(labdir, "run", f"{host}.pid")
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, pidfile)
    while True:
        sig = signal.sigwait(HANDLED)
        if sig == signal.SIGCHLD:
            reap()
        else:
            stop()


if __name__ == "__main__":
    main()
