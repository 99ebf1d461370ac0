"""Detached remote jobs: long work that survives the wizard and its SSH connection.

A job runs on its host in a session of its own (`setsid`), stdin from /dev/null, so neither a
crashed wizard nor a dropped connection stops it; the wizard keeps the `JobRef` in its state
file and reattaches with `job_status`/`wait_job`.

Jobs live under DEFAULT_BASE_DIR (/var/lib/moodle-wizard/jobs), in the root-owned 0700 base of
`privatedir`: never under a world-writable directory such as /var/tmp, where another local user
could create the directory first, swap a stage and have root run their `runner` or read the
secret files. Every command below (start, status, cancel, remove) first proves, in the same
remote command, that every directory from / down to the job's is root's own
(`privatedir.SHELL_FUNCTION`), and refuses with `UnsafeDirectory` otherwise. A ref's directory
must be the job's directory under the base the call is given: a ref from an older wizard's
state file (jobs under /var/tmp/moodle-wizard/jobs) is refused with `ForeignJobDirectory`, never
acted on.

The job directory (BASE/JOB_ID, 0700) holds:
  script     the job (0700), run by the interpreter of its `#!` line (`#!/bin/sh -eu` is
             added if it has none) with umask 077
  runner     the wrapper: records the pid, runs the script, then removes secret/ and writes
             the exit code
  secret/    the secret files (0600), e.g. a MySQL --defaults-extra-file; removed when the job
             ends, whatever the outcome (on kill -9, by the next job_status or cancel_job)
  pid        the runner's pid; it leads the job's session and process group
  output     the job's stdout and stderr (0600)
  exit_code  the job's exit status, written atomically when it ends (143: cancelled with
             SIGTERM, 137: had to be killed)
  progress   written by the job if it wants to report progress: a decimal byte count, replacing
             the file (write progress.tmp, then `mv -f progress.tmp progress`)

The script runs in that directory with `MW_JOB_DIR` set to it; secret NAME is
`$MW_JOB_DIR/secret/NAME`. A process belongs to the job when it carries `MW_JOB_DIR=<dir>` in
its environment: that, never a process name, is how the pid is checked before a signal is sent
(a pid in a file can belong to someone else after a reboot).

`setsid` is used on every host: the lab has no systemd, and where systemd is PID 1 it works
as well, unless logind has KillUserProcesses=yes (not Debian's default), which would end the
job with the SSH session (`systemd-run` would be the way out there).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from moodle_wizard.core.poll import PollTimeout, poll_until
from moodle_wizard.core.remote import privatedir
from moodle_wizard.core.remote.errors import RemoteError
from moodle_wizard.core.remote.ssh import RemoteHost, Result

__all__ = [
    "DEFAULT_BASE_DIR",
    "ForeignJobDirectory",
    "JobRef",
    "JobState",
    "JobStatus",
    "JobTimeout",
    "cancel_job",
    "job_dir",
    "job_script",
    "job_status",
    "remove_job",
    "start_job",
    "wait_job",
]

DEFAULT_BASE_DIR = f"{privatedir.BASE_DIR}/jobs"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_OUTPUT_TAIL = 4096


@dataclass(frozen=True)
class JobRef:
    host: str
    job_id: str
    directory: str

    def to_dict(self) -> dict[str, str]:
        return {"host": self.host, "job_id": self.job_id, "directory": self.directory}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], base_dir: str = DEFAULT_BASE_DIR) -> JobRef:
        ref = cls(host=str(data["host"]), job_id=str(data["job_id"]),
                  directory=str(data["directory"]))
        _check_ref(ref, base_dir)
        return ref


class JobState(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"  # no exit code and the process is gone (host rebooted, killed -9)


@dataclass
class JobStatus:
    state: JobState
    exit_code: int | None
    pid: int | None
    progress_bytes: int | None
    output_tail: str


class ForeignJobDirectory(RemoteError):
    """A ref whose directory is not the job's directory under the base the wizard trusts."""

    def __init__(self, ref: JobRef, base_dir: str) -> None:
        self.ref = ref
        super().__init__(ref.host, f"job {ref.job_id}: its directory {ref.directory} is not "
                                   f"under {base_dir} (an older wizard kept jobs under "
                                   "world-writable /var/tmp); the wizard will not act on a "
                                   "directory it cannot prove is its own: check that no job "
                                   f"runs from it on {ref.host}, then remove it by hand")


class JobTimeout(RemoteError):
    def __init__(self, ref: JobRef, timeout: float) -> None:
        self.ref = ref
        super().__init__(ref.host, f"job {ref.job_id} is still running after {timeout:g} s; "
                                   f"it was left running (wait again, or cancel it)")


def job_dir(job_id: str, base_dir: str = DEFAULT_BASE_DIR) -> str:
    """Where job `job_id` lives (known before it starts, e.g. to name a file in the script)."""
    if not _NAME.fullmatch(job_id) or job_id in (".", ".."):
        raise ValueError(f"job id {job_id!r}: use letters, digits, '.', '_' and '-'")
    try:
        privatedir.check_path(base_dir)
    except ValueError:
        raise ValueError(f"job base directory {base_dir!r} must be a plain absolute path "
                         "below /") from None
    return f"{base_dir}/{job_id}"


def job_script(script: str) -> str:
    """The script as the job runs it: with `#!/bin/sh -eu` first if it has no `#!` line."""
    return script if script.startswith("#!") else "#!/bin/sh -eu\n" + script


def _check_ref(ref: JobRef, base_dir: str) -> None:
    # The directory gets `rm -rf`: it must be a job directory, whatever the state file says.
    base, _, name = ref.directory.rpartition("/")
    if name != ref.job_id or job_dir(ref.job_id, base or "/") != ref.directory:
        raise ValueError(f"{ref.directory!r} is not the directory of job {ref.job_id!r}")
    if ref.directory != job_dir(ref.job_id, base_dir):
        raise ForeignJobDirectory(ref, base_dir)


def _check_host(host: RemoteHost, ref: JobRef, base_dir: str) -> None:
    _check_ref(ref, base_dir)
    if host.target.name != ref.host:
        raise ValueError(f"job {ref.job_id} belongs to {ref.host}, not {host.target.name}")


# `alive PID`: the process exists, is not a zombie and belongs to the job in $dir.
_ALIVE = r"""
alive() {
    { read -r s < "/proc/$1/stat"; } 2>/dev/null || return 1
    set -- "$1" ${s##*) }
    case $2 in Z|X|x) return 1 ;; esac
    tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | grep -qxF "MW_JOB_DIR=$dir"
}
"""

_RUNNER = """#!/bin/sh
# moodle-wizard job runner: runs ./script in this session, then removes the secret files and
# records the exit status, whatever the outcome.
cd -- "$MW_JOB_DIR" || exit 1
finish() {
    trap '' TERM HUP INT
    rm -rf -- secret
    printf '%s\\n' "$1" > exit_code.tmp && mv -f exit_code.tmp exit_code
    exit "$1"
}
trap 'finish 143' TERM
trap 'finish 129' HUP
trap 'finish 130' INT
trap 'rm -rf -- "$MW_JOB_DIR/secret"' EXIT
echo "$$" > pid.tmp && mv -f pid.tmp pid
# Started through its #! interpreter, not exec'd: /var may be mounted noexec.
read -r first < script
set -- ${first#??}
"$@" ./script
finish "$?"
"""

# The script comes on stdin. Stages left by a start that died half-way (they may hold
# secrets) are removed by the next start after 10 minutes, or by remove_job.
_PREPARE = privatedir.SHELL_FUNCTION + """
umask 077
base=$1 dir=$2 id=$3 runner=$4
mw_private_dir make "$base"
if [ -e "$dir" ] || [ -L "$dir" ]; then mw_private_dir check "$dir"; echo exists; exit 0; fi
find "$base" -maxdepth 1 -name '.stage-*' -mmin +10 -exec rm -rf -- {} + 2>/dev/null || true
stage=$(mktemp -d -- "$base/.stage-$id-XXXXXX")
mkdir -- "$stage/secret"
cat > "$stage/script"
printf '%s' "$runner" > "$stage/runner"
chmod 0700 -- "$stage/script" "$stage/runner"
echo "$stage"
"""

# A directory rename is atomic and fails onto a non-empty directory: of two starts with the
# same id, exactly one launches.
_LAUNCH = privatedir.SHELL_FUNCTION + """
umask 077
stage=$1 dir=$2
mw_private_dir check "$stage" || { echo "$stage is gone" >&2; exit 1; }
if ! mv -T -- "$stage" "$dir" 2>/dev/null; then
    rm -rf -- "$stage"
    if [ -e "$dir" ]; then echo exists; exit 0; fi
    echo "cannot create $dir" >&2; exit 1
fi
MW_JOB_DIR=$dir setsid -f sh "$dir/runner" < /dev/null > "$dir/output" 2>&1
n=0
while [ ! -s "$dir/pid" ] && [ ! -e "$dir/exit_code" ]; do
    n=$((n + 1))
    if [ "$n" -gt 200 ]; then echo "the job runner did not start within 10 s" >&2; exit 1; fi
    sleep 0.05
done
echo started
"""

_STATUS = privatedir.SHELL_FUNCTION + _ALIVE + """
dir=$1 n=$3
if ! mw_private_dir check "$dir"; then echo state=missing; echo --; exit 0; fi
cd -- "$dir"
# Waiting here for the end (up to n x 50 ms) answers the moment the job ends, where a poll
# from the wizard would only see it at its next turn.
while [ "$n" -gt 0 ] && [ ! -e exit_code ]; do sleep 0.05; n=$((n - 1)); done
pid=$(cat pid 2>/dev/null || true)
state=lost
if [ -n "$pid" ] && alive "$pid"; then state=running; fi
# Read after the liveness check: a runner that is gone has written its exit code before.
code=$(cat exit_code 2>/dev/null || true)
if [ -n "$code" ]; then state=done; fi
if [ "$state" = lost ]; then rm -rf -- secret; fi
printf 'state=%s\\ncode=%s\\npid=%s\\nprogress=%s\\n--\\n' \
    "$state" "$code" "$pid" "$(cat progress 2>/dev/null || true)"
tail -c "$2" output 2>/dev/null || true
"""

_CANCEL = privatedir.SHELL_FUNCTION + _ALIVE + """
dir=$1 grace=$2
mw_private_dir check "$dir" || exit 0
pid=$(cat "$dir/pid" 2>/dev/null || true)
[ -n "$pid" ] || { rm -rf -- "$dir/secret"; exit 0; }
# Live members of the job's process group that carry the job's mark.
members() {
    for p in /proc/[0-9]*; do
        { read -r s < "$p/stat"; } 2>/dev/null || continue
        set -- ${s##*) }
        [ "$3" = "$pid" ] && alive "${p#/proc/}" && { echo yes; return; }
    done
    return 0
}
wait_gone() {
    n=0
    while [ -n "$(members)" ]; do
        n=$((n + 1)); [ "$n" -le "$1" ] || return 1
        sleep 0.05
    done
}
killed=
if [ -n "$(members)" ]; then
    killed=yes
    kill -s TERM -- "-$pid" 2>/dev/null || true
    if ! wait_gone $((grace * 20)); then
        kill -s KILL -- "-$pid" 2>/dev/null || true
        wait_gone 200 || { echo "process group $pid does not die" >&2; exit 1; }
    fi
fi
rm -rf -- "$dir/secret"
if [ -n "$killed" ] && [ ! -e "$dir/exit_code" ]; then
    printf '137\\n' > "$dir/exit_code.tmp" && mv -f "$dir/exit_code.tmp" "$dir/exit_code"
fi
"""

_REMOVE = privatedir.SHELL_FUNCTION + _ALIVE + """
dir=$1
mw_private_dir check "${dir%/*}" || exit 0
rm -rf -- "${dir%/*}/.stage-${dir##*/}-"*
mw_private_dir check "$dir" || exit 0
pid=$(cat "$dir/pid" 2>/dev/null || true)
if [ -n "$pid" ] && [ ! -e "$dir/exit_code" ] && alive "$pid"; then exit 3; fi
rm -rf -- "$dir"
"""


async def start_job(host: RemoteHost, job_id: str, script: str, *,
                    secret_files: dict[str, str] | None = None,
                    base_dir: str = DEFAULT_BASE_DIR) -> JobRef:
    """Start `script` detached on `host`, or return the ref of the job already started there
    under this id (running or finished: it is never started twice)."""
    directory = job_dir(job_id, base_dir)
    ref = JobRef(host.target.name, job_id, directory)
    secrets = secret_files or {}
    for name in secrets:
        if not _NAME.fullmatch(name):
            raise ValueError(f"secret file name {name!r}: use letters, digits, '.', '_', '-'")
    script = job_script(script)
    display = f"prepare job {job_id} in {directory}"
    prepared = await _run(host, ["sh", "-eu", "-c", _PREPARE, "sh", base_dir, directory,
                                 job_id, _RUNNER], display, input=script)
    stage = prepared.stdout.strip()
    if stage == "exists":
        return ref
    for name, content in secrets.items():
        await host.write_file(f"{stage}/secret/{name}", content.encode(), mode=0o600,
                              atomic=False)
    await _run(host, ["sh", "-eu", "-c", _LAUNCH, "sh", stage, directory],
               f"start job {job_id} detached in {directory}:\n{script.rstrip()}")
    return ref


async def _run(host: RemoteHost, argv: list[str], display: str, *,
               input: str | None = None, timeout: float = 600) -> Result:
    """One job command; UnsafeDirectory if a directory on its way is not provably root's."""
    result = await host.run(argv, input=input, check=False, timeout=timeout, display=display)
    return privatedir.raise_for(host, result, display.partition("\n")[0])


async def job_status(host: RemoteHost, ref: JobRef, wait_s: float = 0.0, *,
                     base_dir: str = DEFAULT_BASE_DIR) -> JobStatus:
    """The job's state; with `wait_s`, first wait on the host up to that long for it to end."""
    _check_host(host, ref, base_dir)
    ticks = max(0, int(wait_s / 0.05))
    result = await _run(host, ["sh", "-c", _STATUS, "sh", ref.directory, str(_OUTPUT_TAIL),
                               str(ticks)], f"status of job {ref.job_id} ({ref.directory})",
                        timeout=wait_s + 60)
    head, _, tail = result.stdout.partition("--\n")
    fields = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    code = _int(fields.get("code"))
    if fields.get("state") == "done" and code is not None:
        state = JobState.SUCCEEDED if code == 0 else JobState.FAILED
    elif fields.get("state") == "running":
        state = JobState.RUNNING
    else:
        state = JobState.LOST
    return JobStatus(state=state, exit_code=code, pid=_int(fields.get("pid")),
                     progress_bytes=_int(fields.get("progress")), output_tail=tail)


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


async def wait_job(host: RemoteHost, ref: JobRef, *,
                   on_progress: Callable[[JobStatus], None] | None = None, poll: float = 0.5,
                   timeout: float | None = None,
                   base_dir: str = DEFAULT_BASE_DIR) -> JobStatus:
    """Poll until the job is no longer RUNNING; `on_progress` sees every poll. On timeout the
    job keeps running and JobTimeout is raised."""
    async def ended() -> JobStatus | None:
        # job_status itself waits up to `poll` for the job to end: no sleep in between.
        status = await job_status(host, ref, wait_s=poll, base_dir=base_dir)
        if on_progress is not None:
            on_progress(status)
        return None if status.state is JobState.RUNNING else status

    try:
        return await poll_until(ended, timeout_s=timeout, interval_s=0,
                                what=f"job {ref.job_id} is still running")
    except PollTimeout:
        raise JobTimeout(ref, timeout or 0) from None


async def cancel_job(host: RemoteHost, ref: JobRef, *, grace: int = 10,
                     base_dir: str = DEFAULT_BASE_DIR) -> None:
    """SIGTERM the job's process group (found by the recorded pid and checked by the job's mark
    in the environment), SIGKILL after `grace` seconds; remove its secret files. Idempotent."""
    _check_host(host, ref, base_dir)
    await _run(host, ["sh", "-c", _CANCEL, "sh", ref.directory, str(int(grace))],
               f"cancel job {ref.job_id}: kill its process group ({ref.directory}/pid)",
               timeout=grace + 30)


async def remove_job(host: RemoteHost, ref: JobRef, *,
                     base_dir: str = DEFAULT_BASE_DIR) -> None:
    """Remove the job's directory; refused while the job runs (cancel it first). Idempotent."""
    _check_host(host, ref, base_dir)
    result = await host.run(["sh", "-c", _REMOVE, "sh", ref.directory], check=False,
                            display=f"rm -rf -- {shlex.quote(ref.directory)}")
    if result.exit_status == privatedir.UNSAFE_EXIT:
        privatedir.raise_for(host, result, f"rm -rf -- {ref.directory}")
    if result.exit_status == 3:
        raise RemoteError(ref.host, f"job {ref.job_id} is still running; cancel it before "
                                    f"removing {ref.directory}")
    if result.exit_status != 0:
        raise RemoteError(ref.host, f"cannot remove {ref.directory}: "
                                    f"{result.stderr.strip() or 'exit ' + str(result.exit_status)}")
