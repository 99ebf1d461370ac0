"""The PHP that evaluates config.php on the app host: its own error messages reach the wizard
(read from stdin, PHP's CLI defines no STDERR constant; issue 6 found them all swallowed), and
(issue 10, item 13) it never writes the text it evaluates, which holds passwords, to a file:
a killed evaluation left /tmp/moodle-wizard-*/config.php behind."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from moodle_wizard.core.moodle_config import _stdin

pytestmark = pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli")


def evaluate(path: str, content: bytes | None, *, tmp: Path | None = None,
             connect: bool = False) -> subprocess.CompletedProcess[str]:
    from moodle_wizard.core.moodle_config import READ_CONFIG_PHP

    script = (_stdin(content, connect=connect) if content is not None
              else READ_CONFIG_PHP.read_text())
    env = {**os.environ, **({"TMPDIR": str(tmp)} if tmp else {})}
    return subprocess.run(["php", "--", path], input=script, capture_output=True, text=True,
                          timeout=30, env=env)


def test_without_the_text_on_stdin_php_says_so(tmp_path: Path) -> None:
    out = evaluate(str(tmp_path / "config.php"), None)
    assert out.returncode == 2, out.stderr
    assert "no config.php text was given on stdin" in out.stderr
    assert "Undefined" not in out.stderr


def test_a_config_php_without_cfg_is_named(tmp_path: Path) -> None:
    out = evaluate(str(tmp_path / "config.php"), b"<?php\n$x = 1;\n")
    assert out.returncode == 5, out.stderr
    assert "does not define $CFG" in out.stderr


SITE = b"""<?php
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype = 'mariadb';
$CFG->dbhost = 'db.example';
$CFG->dbname = 'moodle';
$CFG->dbuser = 'moodleuser';
$CFG->dbpass = 'PW-primary';
$CFG->prefix = 'mdl_';
$CFG->dboptions = ['dbport' => 3306];
$CFG->dirseen = __DIR__;
require(__DIR__ . '/local.php');
require_once(__DIR__ . '/lib/setup.php');
$CFG->after_setup = true;
"""


def test_the_real_path_is_kept_and_lib_setup_is_neutralised(tmp_path: Path) -> None:
    site = tmp_path / "moodle"
    (site / "lib").mkdir(parents=True)
    (site / "lib" / "setup.php").write_text("<?php\nthrow new Exception('bootstrapped');\n")
    (site / "local.php").write_text("<?php\n$CFG->wwwroot = 'https://local.example';\n")
    out = evaluate(str(site / "config.php"), SITE)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["dbpass"] == "PW-primary" and data["dbhost"] == "db.example"
    # A file config.php includes next to itself is read from the real directory.
    assert data["wwwroot"] == "https://local.example"


def test_no_file_holds_the_text_even_when_php_is_killed(tmp_path: Path) -> None:
    """A config.php that hangs (as a slow include or a stuck DNS lookup would) is killed
    mid-evaluation: nothing it held is left in the temp directory, or anywhere PHP wrote."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    hanging = SITE.replace(b"require(__DIR__ . '/local.php');",
                           b"fwrite(STDERR, \"inside\\n\"); sleep(60);")
    script = _stdin(hanging, connect=False)
    proc = subprocess.Popen(["php", "--", str(tmp_path / "config.php")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.stdin is not None
    proc.stdin.write(script)
    proc.stdin.close()
    # Killed while it runs config.php itself (it says so on stderr).
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 20)
    assert ready and proc.stderr.readline() == "inside\n"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    left = [p for p in tmp.rglob("*")]
    assert left == []
    holders = [p for p in tmp_path.rglob("*") if p.is_file()
               and b"PW-primary" in p.read_bytes()]
    assert holders == []
