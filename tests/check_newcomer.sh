#!/bin/sh
# `make check-newcomer` (issue 17): the path of someone new to the project, on this machine.
#  1. A clone in a fresh private directory (mktemp -d: 0700, as a clone under /root is): the
#     README's two commands' non-interactive parts there (`make deps venv lint`, the part of
#     `make test` and `make demo` that runs before any test or screen), and the suite's tests
#     that run code as another user (they failed from a private checkout once).
#  2. A plain `pip install` of that clone into a fresh venv, as on a jump host: `lab up` must
#     refuse before building anything and name the command that fixes it; that command, then
#     `lab up`, then a whole migration of the lab by that install (headless, on the lab's jump
#     host, as an operator would run it there), its status, its rollback, `lab down`.
# Not part of `make test`: about 8 minutes, needs root, PyPI through pip, and no lab up.
set -eu

here=$(pwd)
say() { printf '\ncheck-newcomer: %s\n' "$*"; }
fail() { printf '\ncheck-newcomer: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run it as root (the lab needs root)"
if [ -e /srv/mwlab/lab.json ]; then
    fail "a lab is up; remove it first with \`make lab-down\` (this check builds its own)"
fi

work=$(mktemp -d)
wizard="$work/venv/bin/moodle-wizard"
cleanup() {
    rc=$?
    if [ -x "$wizard" ] && [ -e /srv/mwlab/lab.json ]; then
        "$wizard" lab down >/dev/null 2>&1 || echo "check-newcomer: lab down failed" >&2
    fi
    rm -rf -- "$work"
    exit $rc
}
trap cleanup EXIT INT TERM

say "1. a clone in a private directory ($work, mode $(stat -c %a "$work"))"
git clone -q "$here" "$work/checkout"
cd "$work/checkout"
make deps venv lint
.venv/bin/pytest -q -p no:cacheprovider tests/lab/test_private_checkout.py

say "2. a plain pip install into a fresh venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work/checkout"
if "$wizard" lab up >"$work/up.log" 2>&1; then
    fail "lab up did not refuse on a plain install (no mysql-mimic): $(cat "$work/up.log")"
fi
cat "$work/up.log"
[ ! -e /srv/mwlab/lab.json ] || fail "lab up refused but left a lab behind"
fix=$(sed -n "s/.*install it with \`\([^\`]*\)\`.*/\1/p" "$work/up.log" | head -n 1)
[ -n "$fix" ] || fail "lab up's refusal names no command to run"
say "running what it says: $fix"
sh -c "$fix"
"$wizard" lab up

say "3. a whole migration of the lab by that install, on the lab's jump host"
inventory=/srv/mwlab/newcomer.toml
sed 's/^source_restart = "ask"/source_restart = "allow"/' /srv/mwlab/inventory.toml >"$inventory"
grep -q '^source_restart = "allow"' "$inventory" || fail "the lab's inventory has no source_restart"
state=/root/mw-newcomer-state
on_jump() {
    "$wizard" lab exec jump -- env MOODLE_WIZARD_STATE_DIR=$state moodle-wizard "$@"
}
on_jump run --inventory "$inventory" --yes
on_jump status
on_jump rollback --yes
"$wizard" lab exec jump -- rm -rf "$state" "$inventory"
"$wizard" lab down

say "passed: a private clone's checks, a plain install's refusal and its fix, the lab migrated and rolled back by that install"
