"""The seed job's bash script, run for real on this machine with stand-in commands."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from moodle_wizard.core.remote import privatedir
from moodle_wizard.core.steps.replicas import seed


def test_authorized_key_line_restricts_source_and_command() -> None:
    line = seed.authorized_key_line("ssh-ed25519 AAAA key", "10.0.0.11", "mbstream -x -C /d")
    assert line.startswith('restrict,from="10.0.0.11",command="mbstream -x -C /d" ssh-ed25519')


def test_logical_receiver_turns_off_the_binary_log_first() -> None:
    cmd = seed.receive_command("logical", "/var/lib/mysql", "mariadb", "mbstream")
    assert cmd.index("sql_log_bin=0") < cmd.index("cat")


def test_the_physical_receiver_is_the_dialects_unpacker() -> None:
    """MariaDB's backup unpacks with mbstream, Percona XtraBackup's with xbstream: a MySQL
    replica has no mbstream."""
    from moodle_wizard.core.sql.dialect import Dialect
    from moodle_wizard.core.sql.version import parse_version

    for version, comment, unpacker in (("10.11.19-MariaDB", "mariadb.org", "mbstream"),
                                       ("8.0.36", "MySQL Community Server - GPL", "xbstream")):
        extract = Dialect(parse_version(version, comment)).backup_tools().extract
        cmd = seed.receive_command("physical", "/var/lib/mysql", "mysql", extract)
        assert cmd == f"{unpacker} -x -C /var/lib/mysql"


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
                                 seed.Receiver("db3", "10.0.0.13", 22)], str(work),
                                check_workdir=False)
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
                                 seed.Receiver("db3", "10.0.0.13", 22)], str(work),
                                check_workdir=False)
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
                                str(work), connect_timeout=2, check_workdir=False)
    try:
        proc = subprocess.run(["bash", "-c", script], text=True, capture_output=True,
                              timeout=60, env={"PATH": f"{bindir}:/usr/bin:/bin"})
    finally:
        silent.close()
    assert proc.returncode == 12, proc.stdout + proc.stderr
    assert "receiver db2 exit 255" in proc.stdout


def run_seed_job(workdir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "ssh").write_text('#!/bin/bash\ncat > /dev/null\n')
    (bindir / "ssh").chmod(0o755)
    (bindir / "backup").write_text("#!/bin/bash\nhead -c 1000 /dev/zero\n")
    (bindir / "backup").chmod(0o755)
    script = seed.sender_script("physical", "backup", [seed.Receiver("db2", "10.0.0.12", 22)],
                                str(workdir))
    return subprocess.run(["bash", "-c", script], text=True, capture_output=True, timeout=60,
                          env={"PATH": f"{bindir}:/usr/bin:/bin"})


def test_the_stage_is_under_the_root_owned_base() -> None:
    assert seed.SEED_DIR == "/var/lib/moodle-wizard/seed"
    assert not seed.SEED_DIR.startswith(("/tmp", "/var/tmp"))


def test_the_job_refuses_a_stage_under_a_world_writable_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    proc = run_seed_job(work, tmp_path)
    assert proc.returncode == privatedir.UNSAFE_EXIT, proc.stdout + proc.stderr
    assert "unsafe directory /tmp: it has mode 01777" in proc.stderr
    assert "cannot prove is root's own" in proc.stderr
    assert not (work / "stream").exists(), "nothing ran in the stage"


@pytest.mark.parametrize("how", ["nobody's", "0755", "symlink"])
def test_the_job_refuses_a_stage_someone_else_prepared(root_scratch: Path, tmp_path: Path,
                                                       how: str) -> None:
    work = root_scratch / "seed"
    if how == "symlink":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        work.symlink_to(elsewhere)
    else:
        work.mkdir(mode=0o700)
        if how == "nobody's":
            os.chown(work, 65534, 65534)
        else:
            work.chmod(0o755)
    proc = run_seed_job(work, tmp_path)
    assert proc.returncode == privatedir.UNSAFE_EXIT, proc.stdout + proc.stderr
    reason = {"nobody's": "is owned by uid 65534", "0755": "has mode 0755, not 0700",
              "symlink": "is a symbolic link"}[how]
    assert f"unsafe directory {work}: it {reason}" in proc.stderr
    assert not (work / "stream").exists()


def test_the_job_runs_in_a_stage_only_root_can_have_made(root_scratch: Path,
                                                         tmp_path: Path) -> None:
    work = root_scratch / "seed"
    work.mkdir(mode=0o700)
    proc = run_seed_job(work, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "receiver db2 exit 0" in proc.stdout
