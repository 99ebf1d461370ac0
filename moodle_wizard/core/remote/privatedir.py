"""Directories on a remote host that only root can have prepared.

Everything the wizard keeps on a host as root (detached jobs with their `runner` and secret
files, the seed stage with its private key) lives under BASE_DIR, a root-owned 0700
directory. A path is trusted only if the wizard can prove that no one but root could have
created or changed it: every component from `/` down is a real directory (not a symlink),
owned by root and not writable by group or others (a sticky, world-writable directory such as
/var/tmp is refused too: anyone could have created the next component there first), and the
directory itself is 0700. Missing components are created 0700, top-down, each only after its
parent has been proved root's own, so there is no window in which another user can slip one
in.

The proof is re-done at every use, inside the same remote command that uses the path (the
shell function SHELL_FUNCTION is prepended to those scripts), so it costs no extra round trip.
A refusal ends that command with exit status UNSAFE_EXIT and one line on stderr that names the
path, what is wrong and the fix; `raise_for` turns it into `UnsafeDirectory`.
"""

from __future__ import annotations

import re
import shlex

from moodle_wizard.core.remote.errors import CommandFailed, RemoteError
from moodle_wizard.core.remote.ssh import RemoteHost, Result

__all__ = [
    "BASE_DIR",
    "FIX",
    "SHELL_FUNCTION",
    "UNSAFE_EXIT",
    "UnsafeDirectory",
    "check_path",
    "ensure_private_dir",
    "private_dir_exists",
    "raise_for",
]

BASE_DIR = "/var/lib/moodle-wizard"
UNSAFE_EXIT = 97
FIX = ("remove it or fix its owner/mode (owner root, not writable by group or others, 0700 for "
       "the wizard's own directory): the wizard will not use a directory it cannot prove is "
       "root's own")
_PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]*)+")

# `mw_private_dir make|check PATH`: returns 0 when PATH is proved root's own (see the module
# docstring); with `make`, missing components are created 0700; with `check`, returns 1 when
# PATH or one of its parents does not exist (nothing there to use). Anything else: exits the
# whole script with UNSAFE_EXIT and the reason on stderr. POSIX sh (dash) and bash.
SHELL_FUNCTION = r"""
mw_unsafe() {
    printf 'unsafe directory %s: it %s; %s\n' "$1" "$2" __FIX__ >&2
    exit __UNSAFE__
}
mw_root_dirs() {
    # $1 the final path, then the components to prove, parents first: one `stat` for all.
    mw_final=$1; shift
    mw_out=$(stat -c '%u %a %F|%n' -- "$@" 2>&1) || mw_unsafe "$1" "cannot be examined ($mw_out)"
    while IFS= read -r mw_line; do
        mw_uid=${mw_line%% *}; mw_line=${mw_line#* }; mw_mode=${mw_line%% *}
        mw_line=${mw_line#* }; mw_type=${mw_line%%|*}; mw_n=${mw_line#*|}
        [ "$mw_type" != "symbolic link" ] || \
            mw_unsafe "$mw_n" "is a symbolic link (to $(readlink -- "$mw_n"))"
        [ "$mw_type" = directory ] || mw_unsafe "$mw_n" "is a $mw_type, not a directory"
        [ "$mw_uid" = 0 ] || \
            mw_unsafe "$mw_n" "is owned by uid $mw_uid ($(stat -c %U -- "$mw_n")), not root"
        [ $((0$mw_mode & 022)) = 0 ] || \
            mw_unsafe "$mw_n" "has mode 0$mw_mode: group or others can write to it"
        if [ "$mw_n" = "$mw_final" ] && [ "$mw_mode" != 700 ]; then
            mw_unsafe "$mw_n" "has mode 0$mw_mode, not 0700"
        fi
    done <<MW_EOF
$mw_out
MW_EOF
}
mw_private_dir() {
    mw_found=/ mw_missing= mw_p= mw_rest=${2#/}
    while [ -n "$mw_rest" ]; do
        mw_c=${mw_rest%%/*}
        case $mw_rest in */*) mw_rest=${mw_rest#*/} ;; *) mw_rest= ;; esac
        mw_p=$mw_p/$mw_c
        if [ -z "$mw_missing" ] && { [ -e "$mw_p" ] || [ -L "$mw_p" ]; }; then
            mw_found="$mw_found $mw_p"
        else
            mw_missing="$mw_missing $mw_p"
        fi
    done
    # What exists is proved first (an unsafe parent is named even when its child is missing).
    mw_root_dirs "$2" $mw_found
    [ -n "$mw_missing" ] || return 0
    [ "$1" = make ] || return 1
    # Each parent is proved root's own, so no one else can create these meanwhile.
    for mw_p in $mw_missing; do
        mkdir -m 0700 -- "$mw_p" 2>/dev/null || [ -d "$mw_p" ] || \
            mw_unsafe "$mw_p" "cannot be created"
    done
    mw_root_dirs "$2" $mw_missing
}
""".replace("__UNSAFE__", str(UNSAFE_EXIT)).replace("__FIX__", shlex.quote(FIX))


class UnsafeDirectory(RemoteError):
    """A directory the wizard would use as root could have been prepared by someone else."""


def check_path(path: str) -> str:
    """`path` if it is absolute and plain (no `.`/`..`, no doubled or trailing slash, no
    characters a shell or an error message could misread); ValueError otherwise."""
    if not _PATH.fullmatch(path) or "/../" in path + "/" or "/./" in path + "/":
        raise ValueError(f"{path!r} is not a plain absolute path")
    return path


def raise_for(host: RemoteHost, result: Result, what: str) -> Result:
    """`result` if its command succeeded; UnsafeDirectory if the proof refused a directory;
    CommandFailed otherwise."""
    if result.exit_status == UNSAFE_EXIT:
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("unsafe directory ")]
        raise UnsafeDirectory(host.target.name, lines[-1] if lines else result.stderr.strip())
    if result.exit_status != 0:
        raise CommandFailed(host.target.name, what, result.exit_status, result.stderr)
    return result


async def ensure_private_dir(host: RemoteHost, path: str) -> None:
    """Create `path` (0700, root's) if missing and prove it root's own; UnsafeDirectory if
    it cannot be proved."""
    script = SHELL_FUNCTION + 'umask 077\nmw_private_dir make "$1"\n'
    result = await host.run(["sh", "-c", script, "sh", check_path(path)], check=False,
                            display=f"install -d -m 0700 {shlex.quote(path)} (check that "
                                    "every directory from / is root's own)")
    raise_for(host, result, f"install -d -m 0700 {path}")


async def private_dir_exists(host: RemoteHost, path: str) -> bool:
    """Whether `path` exists (False: it or a parent is missing); UnsafeDirectory if it exists
    but cannot be proved root's own."""
    script = SHELL_FUNCTION + 'mw_private_dir check "$1" || exit 1\n'
    result = await host.run(["sh", "-c", script, "sh", check_path(path)], check=False,
                            display=f"check that {shlex.quote(path)} is root's own")
    if result.exit_status == 1:
        return False
    raise_for(host, result, f"check {path}")
    return True
