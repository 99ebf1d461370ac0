"""Moodle's config.php, evaluated by PHP on the app host, and the secrets it holds.

config.php is code the web application can change: PHP that evaluates it runs as the file's
owner, or as the web server's user when root owns the file, and never as root (a compromised
site must not become root on the app host through the wizard). The wizard reads the bytes
itself (as its SSH user) and sends them to PHP on stdin, so no copy holding the passwords is
ever written on the host (nothing is left behind when an evaluation is killed) and PHP need
not be able to open the file. `php -l` of a candidate edit runs as the same user.

Every password config.php holds is a secret: the primary's `dbpass` and each one under
`dboptions` (the read-only replicas' `dbpass` in every shape Moodle accepts). They are
registered with the SecretStore and replaced by MASK before anything is recorded.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from moodle_wizard.core.errors import StepError
from moodle_wizard.core.remote.errors import CommandFailed
from moodle_wizard.core.remote.ssh import RemoteHost
from moodle_wizard.core.secrets import MASK, SecretStore

READ_CONFIG_PHP = resources.files("moodle_wizard.core.php").joinpath("read_config.php")
# Debian's and Ubuntu's web server user; the user PHP runs as when root owns config.php.
WEB_USER = "www-data"
# A dboptions key whose value is a password (dbpass, and any future *pass*/*password*).
_SECRET_KEY = re.compile(r"pass", re.IGNORECASE)

# Prints what decides the user PHP runs as; nothing here holds a secret.
_WHO = r"""
me=$(id -u)
echo "me $me"
[ "$me" = 0 ] || exit 0
if st=$(stat -L -c '%u %g' -- "$1" 2>/dev/null); then
  uid=${st% *}
  echo "owner $uid $(id -g -- "$uid" 2>/dev/null || echo "${st#* }")"
fi
if w=$(id -u -- "$2" 2>/dev/null); then echo "web $w $(id -g -- "$2")"; fi
command -v setpriv >/dev/null 2>&1 && echo "setpriv yes"
exit 0
"""


@dataclass(frozen=True)
class PhpUser:
    """Who runs PHP on an app host: the SSH user itself when that is not root, else `uid`."""

    uid: int | None
    gid: int | None
    why: str

    def argv(self, *command: str) -> list[str]:
        if self.uid is None:
            return list(command)
        # No supplementary groups, no way back to root through a setuid binary.
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--no-new-privs", *command]


async def php_user(host: RemoteHost, path: str) -> PhpUser:
    """The user that evaluates `path` on `host`: never root."""
    out = await host.run(["sh", "-c", _WHO, "sh", path, WEB_USER],
                         display=f"id -u; stat -L -c '%u %g' {path}; id {WEB_USER}")
    seen: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        key, *rest = line.split()
        seen[key] = rest
    if seen.get("me", ["0"])[0] != "0":
        return PhpUser(None, None, f"as {host.target.user}, the SSH user")
    name = host.target.name
    if "setpriv" not in seen:
        raise StepError(f"{name}: setpriv (util-linux) is missing, and the wizard never "
                        f"evaluates config.php with PHP as root; install util-linux, or SSH in "
                        f"as the owner of {path}")
    owner = seen.get("owner")
    if owner and owner[0] != "0" and owner[1] != "0":
        return PhpUser(int(owner[0]), int(owner[1]), f"as uid {owner[0]}, the owner of {path}")
    web = seen.get("web")
    if web and web[0] != "0" and web[1] != "0":
        return PhpUser(int(web[0]), int(web[1]), f"as {WEB_USER}, the web server's user "
                       f"({path} belongs to root)")
    raise StepError(f"{name}: {path} belongs to root and there is no {WEB_USER} user, and the "
                    "wizard never evaluates config.php with PHP as root; chown config.php to "
                    "the user the web server runs PHP as, or SSH in as that user")


def _stdin(content: bytes, *, connect: bool) -> str:
    encoded = base64.b64encode(content).decode("ascii")
    head = f"<?php $mw_config = '{encoded}';{'' if connect else ' $mw_no_connect = true;'} ?>"
    return head + READ_CONFIG_PHP.read_text()


async def evaluate_config(host: RemoteHost, path: str, content: bytes, *,
                          connect: bool) -> dict[str, Any]:
    """Evaluate config.php text (the file's, or an edit not written yet) as Moodle would see
    it at `path`, and with `connect`, try its logins. The result holds passwords: keep it in
    memory (see `register_config_secrets`)."""
    user = await php_user(host, path)
    result = await host.run(user.argv("php", "--", path), input=_stdin(content, connect=connect),
                            check=False, display=f"php -- {path} (its text sent on stdin, "
                            f"evaluated {user.why}{', logins tried' if connect else ''})")
    name = host.target.name
    if result.exit_status == 127:
        raise StepError(f"{name}: PHP is not installed (php: command not found); run the "
                        "wizard's app role against the host that serves Moodle")
    if result.exit_status != 0 or not result.stdout.strip():
        why = (result.stderr.strip() or result.stdout.strip() or "PHP failed").splitlines()[-1]
        # PHP names the wrapper's URL; the operator knows the real file.
        why = why.replace("mwconfig://", "")
        if "Parse error" in why or "syntax error" in why:
            raise StepError(f"{name}: Moodle's config at {path} is not valid PHP ({why}); "
                            f"fix it (check with `php -l {path}`) before migrating")
        raise StepError(f"{name}: cannot evaluate Moodle's config at {path}: {why}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


async def read_moodle_config(host: RemoteHost, path: str) -> dict[str, Any]:
    """config.php on `host` as Moodle sees it, its logins tried; holds dbpass: keep it in
    memory. `writable` says whether the SSH user can replace it (what the cutover does)."""
    name = host.target.name
    try:
        content = await host.read_file(path)
    except CommandFailed:
        raise StepError(f"{name}: {path} exists but {host.target.user} cannot read it; make "
                        f"it readable (chmod/chown, as Moodle's web server user needs too), or "
                        f"SSH in as its owner") from None
    if content is None:
        raise StepError(f"{name}: there is no Moodle config.php at {path}; set "
                        "migration.moodle_config to the path of Moodle's config.php")
    data = await evaluate_config(host, path, content, connect=True)
    writable = await host.run(["sh", "-c", 'test -w "$1" && test -w "$(dirname -- "$1")"',
                               "sh", path], check=False)
    data["writable"] = writable.exit_status == 0
    return data


async def php_lint(host: RemoteHost, path: str, content: bytes) -> str | None:
    """None when `php -l` accepts the text (sent on stdin, checked as `path`'s PHP user),
    else PHP's complaint."""
    user = await php_user(host, path)
    result = await host.run(user.argv("php", "-l"), input=content, check=False,
                            display=f"php -l (the edited {path}, sent on stdin, {user.why})")
    if result.exit_status == 0:
        return None
    return (result.stdout.strip() or result.stderr.strip() or "php -l failed").splitlines()[0]


def config_secrets(value: Any) -> list[str]:
    """Every password under `value` (dboptions as PHP returned it: any key with "pass" in
    its name, at any depth), and replace each by MASK in place."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _SECRET_KEY.search(str(key)) and not isinstance(item, dict | list):
                if item not in (None, "", MASK):
                    found.append(str(item))
                    value[key] = MASK
            else:
                found += config_secrets(item)
    elif isinstance(value, list):
        for item in value:
            found += config_secrets(item)
    return found


def register_config_secrets(cfg: dict[str, Any], store: SecretStore, where: str) -> str:
    """Register every password of an evaluated config.php with `store` and mask the ones
    under dboptions in place; returns the primary's dbpass (removed from `cfg`)."""
    password = str(cfg.pop("dbpass", None) or "")
    store.register("moodle_db_password", password)
    store.register(f"moodle_db_password:{where}", password)
    for n, secret in enumerate(config_secrets(cfg.get("dboptions"))):
        # One name each: a second instance's password must not replace the first one's.
        store.register(f"moodle_config_secret:{where}:{n}", secret)
    return password
