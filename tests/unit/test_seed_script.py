"""The seed job's bash script, run for real on this machine with stand-in commands."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from moodle_wizard.core.steps import seed


def test_authorized_key_line_restricts_source_and_command() -> None:
    line = seed.authorized_key_line("ssh-ed25519 AAAA key", "10.0.0.11", "mbstream -x -C /d")
    assert line.startswith('restrict,from="10.0.0.11",command="mbstream -x -C /d" ssh-ed25519')


def test_logical_receiver_turns_off_the_binary_log_first() -> None:
    cmd = seed.receive_command("logical", "/var/lib/mysql", "mariadb")
    assert cmd.index("sql_log_bin=0") < cmd.index("cat")


def test_the_script_is_valid_bash() -> None:
    script = seed.sender_script("physical", "backup", [seed.Receiver("db2", "10.0.0.12", 22),
                                                        seed.Receiver("db3", "10.0.0.13", 22)],
                                "/var/tmp/x")
    proc = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert script.count("mkfifo to.") == 2
    assert "tee to.db2 to.db3" in script


def test_one_backup_read_feeds_every_receiver(tmp_path: Path) -> None:
    """Run the real script with `ssh` replaced by a receiver that stores what it gets."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_ssh = bindir / "ssh"
    fake_ssh.write_text('#!/bin/bash\nhost="${@: -1}"\ncat > "$OUT/${host#root@}"\n')
    fake_ssh.chmod(0o755)
    backup = bindir / "backup"
    backup.write_text("#!/bin/bash\necho reads >> \"$OUT/backup-runs\"\n"
                      "head -c 3000000 /dev/urandom\n")
    backup.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    script = seed.sender_script("physical", "backup",
                                [seed.Receiver("db2", "10.0.0.12", 22),
                                 seed.Receiver("db3", "10.0.0.13", 22)], str(work))
    proc = subprocess.run(["bash", "-c", script], text=True, capture_output=True, timeout=60,
                          env={"PATH": f"{bindir}:/usr/bin:/bin", "OUT": str(out)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "backup-runs").read_text() == "reads\n"
    a, b = (out / "10.0.0.12").read_bytes(), (out / "10.0.0.13").read_bytes()
    assert len(a) == 3000000 and a == b


def test_a_failing_receiver_fails_the_job(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text('#!/bin/bash\nhost="${@: -1}"\n'
                                '[ "$host" = root@10.0.0.13 ] && { cat >/dev/null; exit 3; }\n'
                                'cat > /dev/null\n')
    (bindir / "ssh").chmod(0o755)
    (bindir / "backup").write_text("#!/bin/bash\nhead -c 100000 /dev/zero\n")
    (bindir / "backup").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    script = seed.sender_script("physical", "backup",
                                [seed.Receiver("db2", "10.0.0.12", 22),
                                 seed.Receiver("db3", "10.0.0.13", 22)], str(work))
    proc = subprocess.run(["bash", "-c", script], text=True, capture_output=True, timeout=60,
                          env={"PATH": f"{bindir}:/usr/bin:/bin"})
    assert proc.returncode == 12
    assert "db3 exit 3" in proc.stdout


def test_a_replica_that_never_answers_the_handshake_fails_the_job(tmp_path: Path) -> None:
    """The real ssh against a port that accepts and then stays silent, as a replica does when
    its link drops right after the TCP handshake: the job must end, not wait for ever."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "backup").write_text("#!/bin/bash\nhead -c 1000000 /dev/zero\n")
    (bindir / "backup").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    script = seed.sender_script("physical", "backup", [seed.Receiver("db2", "127.0.0.1", port)],
                                str(work), connect_timeout=2)
    try:
        proc = subprocess.run(["bash", "-c", script], text=True, capture_output=True,
                              timeout=60, env={"PATH": f"{bindir}:/usr/bin:/bin"})
    finally:
        silent.close()
    assert proc.returncode == 12, proc.stdout + proc.stderr
    assert "receiver db2 exit 255" in proc.stdout
