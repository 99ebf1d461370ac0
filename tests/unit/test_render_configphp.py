"""The config.php cutover edit, checked byte by byte and by evaluating the result with PHP."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from moodle_wizard.core.php.lexer import php_single_quoted
from moodle_wizard.core.render.configphp import (
    ConfigPhpError,
    ReadonlyReplica,
    ReadonlySettings,
    edit_config_php,
)
from moodle_wizard.core.render.configphp_diff import MASK, config_php_diff

PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="php-cli is not installed")

VIP = "10.0.0.100"
PORT = 6033

# The shape of Moodle's config-dist.php as an installer leaves it, with the comments kept.
CONFIG_DIST = b"""<?php  // Moodle configuration file

unset($CFG);  // Ignore this line
global $CFG;  // This is necessary here for PHPUnit execution
$CFG = new stdClass();

//=========================================================================
// 1. DATABASE SETUP
//=========================================================================
// $CFG->dbhost = 'old-db.example.org';   (the previous server, kept for reference)
/* $CFG->dbhost = 'commented-out'; */

$CFG->dbtype    = 'mariadb';      // 'pgsql', 'mariadb', 'mysqli', 'sqlsrv' or 'oci'
$CFG->dblibrary = 'native';     // 'native' only at the moment
$CFG->dbhost    = 'localhost';  // eg 'localhost' or 'db.isp.com' or IP
$CFG->dbname    = 'moodle';     // database name, eg moodle
$CFG->dbuser    = 'moodleuser';   // your database username
$CFG->dbpass    = 'S3cr\\'et"$x';   // your database password
$CFG->prefix    = 'mdl_';       // prefix to use for all table names
$CFG->dboptions = array(
    'dbpersist' => false,       // should persistent database connections be
                                //  used? set to 'false' for the most stable
                                //  setting, 'true' can improve performance
                                //  sometimes
    'dbsocket'  => false,       // should connection via UNIX socket be used?
                                //  if you set it to 'true' or custom path
                                //  here set dbhost to 'localhost',
    'dbport'    => '',          // the TCP port number to use when connecting
                                //  to the server. keep empty string for the
                                //  default port
    'dbcollation' => 'utf8mb4_unicode_ci', // MySQL has partial and full UTF-8
                                // support.
    // 'fetchbuffersize' => 100000, // On PostgreSQL, this option sets a limit
);

$CFG->wwwroot   = 'https://moodle.example.org';
$CFG->dataroot  = '/var/moodledata';
$CFG->admin     = 'admin';
$CFG->note      = 'uses $CFG->dbhost = "x"; in a string';

$CFG->directorypermissions = 02777;

require_once(__DIR__ . '/lib/setup.php');

// There is no php closing tag in this file,
// it is intentional because it prevents trailing whitespace problems!
"""


def _php_eval(tmp_path: Path, content: bytes) -> dict[str, object]:
    """Evaluate a config.php the way Moodle would, with lib/setup.php neutralised."""
    site = tmp_path / f"site{len(list(tmp_path.iterdir()))}"
    (site / "lib").mkdir(parents=True)
    (site / "lib" / "setup.php").write_bytes(b"<?php\n")
    config = site / "config.php"
    config.write_bytes(content)
    assert PHP is not None
    lint = subprocess.run([PHP, "-l", str(config)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    code = "require $argv[1]; echo json_encode($CFG, JSON_THROW_ON_ERROR);"
    run = subprocess.run(
        [PHP, "-d", "display_errors=stderr", "-r", code, str(config)],
        capture_output=True,
        check=False,
    )
    assert run.returncode == 0 and not run.stderr, run.stderr.decode()
    result = json.loads(run.stdout)
    assert isinstance(result, dict)
    return result


def _assert_cfg_changed_only(
    before: dict[str, object], after: dict[str, object], readonly: bool = False
) -> None:
    assert after["dbhost"] == VIP
    options = after["dboptions"]
    assert isinstance(options, dict)
    assert options["dbport"] == PORT
    old_options = dict(before["dboptions"])  # type: ignore[call-overload]
    new_options = dict(options)
    new_options.pop("dbport")
    old_options.pop("dbport", None)
    if readonly:
        new_options.pop("readonly")
        old_options.pop("readonly", None)
    assert new_options == old_options
    rest_before = {k: v for k, v in before.items() if k not in ("dbhost", "dboptions")}
    rest_after = {k: v for k, v in after.items() if k not in ("dbhost", "dboptions")}
    assert rest_after == rest_before


def _changed_lines(before: bytes, after: bytes) -> tuple[list[str], list[str]]:
    diff = list(
        difflib.ndiff(
            before.decode("utf-8", "replace").splitlines(keepends=True),
            after.decode("utf-8", "replace").splitlines(keepends=True),
        )
    )
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    return removed, added


def _span(src: bytes, pattern: bytes) -> tuple[int, int]:
    """The span of group 1 of `pattern` in `src` (exactly one match)."""
    matches = list(re.finditer(pattern, src, re.MULTILINE))
    assert len(matches) == 1, pattern
    return matches[0].span(1)


def test_config_dist_shape_changes_only_the_two_values() -> None:
    out = edit_config_php(CONFIG_DIST, dbhost=VIP, dbport=PORT)
    host = _span(CONFIG_DIST, rb"^\$CFG->dbhost\s*=\s*('localhost')")
    port = _span(CONFIG_DIST, rb"^\s*'dbport'\s*=>\s*('')")
    expected = (
        CONFIG_DIST[: host[0]]
        + b"'10.0.0.100'"
        + CONFIG_DIST[host[1] : port[0]]
        + b"6033"
        + CONFIG_DIST[port[1] :]
    )
    assert out == expected
    removed, added = _changed_lines(CONFIG_DIST, out)
    assert len(removed) == len(added) == 2
    assert all("dbhost" in line or "dbport" in line for line in removed + added)


@needs_php
def test_config_dist_shape_evaluates_to_the_new_values(tmp_path: Path) -> None:
    out = edit_config_php(CONFIG_DIST, dbhost=VIP, dbport=PORT)
    before = _php_eval(tmp_path, CONFIG_DIST)
    after = _php_eval(tmp_path, out)
    assert before["dbhost"] == "localhost"
    _assert_cfg_changed_only(before, after)
    assert after["dbpass"] == "S3cr'et\"$x"


VARIANTS: dict[str, bytes] = {
    # The lab's and the installer's `array (` with two-space indent and an empty dbport.
    "installer": b"""<?php  // Moodle configuration file

unset($CFG);
global $CFG;
$CFG = new stdClass();

$CFG->dbtype    = 'mariadb';
$CFG->dblibrary = 'native';
$CFG->dbhost    = 'db1';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodle';
$CFG->dbpass    = 'pw';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => '',
  'dbsocket' => '',
  'dbcollation' => 'utf8mb4_unicode_ci',
);

$CFG->wwwroot   = 'http://app/moodle';
$CFG->dataroot  = '/var/moodledata';
$CFG->admin     = 'admin';

$CFG->directorypermissions = 0777;

require_once(__DIR__ . '/lib/setup.php');
""",
    "compact": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost='db1';$CFG->dbname='m';\n"
    b"$CFG->dboptions=['dbpersist'=>0,'dbport'=>3306];\n"
    b"require_once(__DIR__ . '/lib/setup.php');\n",
    "spaced-double-quotes": b'<?php\n$CFG = new stdClass();\n$CFG->dbhost    =   "db1.example" ;\n'
    b"$CFG  ->  dboptions   =   array  (  'dbport'  =>  '3306' ,  'dbsocket' => ''  )  ;\n"
    b"require_once(__DIR__ . '/lib/setup.php');\n",
    "dbport-first-int": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = [\n    'dbport' => 3306,\n    'dbpersist' => false,\n];\n"
    b"require_once(__DIR__ . '/lib/setup.php');\n",
    "double-quoted-key": b'<?php\n$CFG = new stdClass();\n$CFG->dbhost = "db1";\n'
    b'$CFG->dboptions = array("dbpersist" => false, "dbport" => "");\n'
    b"require_once(__DIR__ . '/lib/setup.php');\n",
    "no-dbport-trailing-comma": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = array(\n    'dbpersist' => false,\n    'dbsocket'  => false, // comment\n"
    b"    // 'old' => 1,\n);\nrequire_once(__DIR__ . '/lib/setup.php');\n",
    "no-dbport-no-trailing-comma": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = array(\n\t'dbpersist' => false,\n\t'dbcollation' => 'utf8mb4_unicode_ci'"
    b" // last\n);\nrequire_once(__DIR__ . '/lib/setup.php');\n",
    "no-dbport-inline": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = array('dbpersist' => false);\nrequire_once(__DIR__ . '/lib/setup.php');\n",
    "no-dbport-inline-trailing-comma": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = ['dbpersist' => false,];\nrequire_once(__DIR__ . '/lib/setup.php');\n",
    "empty-array": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = array();\nrequire_once(__DIR__ . '/lib/setup.php');\n",
    "empty-multiline-array": b"<?php\n$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = [\n];\nrequire_once(__DIR__ . '/lib/setup.php');\n",
    "crlf": b"<?php\r\n$CFG = new stdClass();\r\n$CFG->dbhost = 'db1'; // primary\r\n"
    b"$CFG->dboptions = array(\r\n  'dbpersist' => 0,\r\n  'dbsocket' => '',\r\n);\r\n"
    b"require_once(__DIR__ . '/lib/setup.php');\r\n",
    "latin1-comment-and-closing-tag": b"<?php\n// R\xe9glages du site (latin-1)\n"
    b"$CFG = new stdClass();\n$CFG->dbhost = 'db1';\n"
    b"$CFG->dboptions = array('dbport' => '', 'dbcollation' => 'utf8mb4_unicode_ci');\n"
    b"require_once(__DIR__ . '/lib/setup.php');\n?>\n",
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_keep_every_other_byte(name: str) -> None:
    src = VARIANTS[name]
    out = edit_config_php(src, dbhost=VIP, dbport=PORT)
    host = _span(src, rb"\$CFG->dbhost\s*=\s*(['\"][^'\"]*['\"])")
    options = _span(src, rb"(?s)\$CFG\s*->\s*dboptions\s*=\s*(.*?[)\]])\s*;")
    quote = src[host[0] : host[0] + 1]
    literal = quote + VIP.encode() + quote
    # Outside the dbhost literal and the dboptions array literal, nothing moved.
    assert out[: host[0]] == src[: host[0]]
    at = host[0] + len(literal)
    assert out[host[0] : at] == literal
    assert out[at : at + options[0] - host[1]] == src[host[1] : options[0]]
    tail = src[options[1] :]
    assert out.endswith(tail)
    old_array = src[options[0] : options[1]]
    new_array = out[at + options[0] - host[1] : len(out) - len(tail)]
    # Inside the array the dbport value is replaced or a dbport entry is inserted, nothing else.
    port = re.search(rb"""(['"]dbport['"]\s*=>\s*)('[^']*'|"[^"]*"|\d+)""", old_array)
    if port:
        old_array = old_array[: port.start(2)] + str(PORT).encode() + old_array[port.end(2) :]
    matcher = difflib.SequenceMatcher(None, old_array, new_array, autojunk=False)
    inserted = b""
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        assert tag in ("equal", "insert"), (tag, old_array[i1:i2], new_array[j1:j2])
        inserted += new_array[j1:j2] if tag == "insert" else b""
    expected_insert = b"" if port else b"'dbport' => 6033"
    assert re.sub(rb"[\s,]", b"", inserted) == re.sub(rb"[\s,]", b"", expected_insert)
    if b"\r\n" in src:
        assert out.count(b"\r\n") == out.count(b"\n"), "a bare LF was introduced"


@needs_php
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_evaluate_with_php(name: str, tmp_path: Path) -> None:
    src = VARIANTS[name]
    out = edit_config_php(src, dbhost=VIP, dbport=PORT)
    _assert_cfg_changed_only(_php_eval(tmp_path, src), _php_eval(tmp_path, out))


def test_edit_is_idempotent() -> None:
    ro = ReadonlySettings((ReadonlyReplica(VIP, PORT, "moodle_ro", "r0"),), latency=0.5)
    for src in [CONFIG_DIST, *VARIANTS.values()]:
        once = edit_config_php(src, dbhost=VIP, dbport=PORT, readonly=ro)
        assert edit_config_php(once, dbhost=VIP, dbport=PORT, readonly=ro) == once


NASTY = "p'a\"s\\s$(id)`x` #;ü\\"


@needs_php
def test_readonly_block_multiline(tmp_path: Path) -> None:
    ro = ReadonlySettings(
        (ReadonlyReplica("10.0.0.101", PORT, "moodle_ro", NASTY), ReadonlyReplica("10.0.0.102")),
        latency=0.5,
        connecttimeout=2,
    )
    out = edit_config_php(CONFIG_DIST, dbhost=VIP, dbport=PORT, readonly=ro)
    before, after = _php_eval(tmp_path, CONFIG_DIST), _php_eval(tmp_path, out)
    _assert_cfg_changed_only(before, after, readonly=True)
    options = after["dboptions"]
    assert isinstance(options, dict)
    assert options["readonly"] == {
        "instance": [
            {"dbhost": "10.0.0.101", "dbport": PORT, "dbuser": "moodle_ro", "dbpass": NASTY},
            {"dbhost": "10.0.0.102"},
        ],
        "connecttimeout": 2,
        "latency": 0.5,
    }
    # The block follows the array's layout: one entry per line, the array's indent.
    removed, added = _changed_lines(CONFIG_DIST, out)
    assert len(removed) == 2
    assert added[2].startswith("    'readonly' => [")
    assert all(line.startswith("    ") for line in added[2:])


@needs_php
def test_readonly_block_inline_and_replaced(tmp_path: Path) -> None:
    src = VARIANTS["compact"]
    first = ReadonlySettings((ReadonlyReplica("10.0.0.101"),))
    out = edit_config_php(src, dbhost=VIP, dbport=PORT, readonly=first)
    assert out.count(b"\n") == src.count(b"\n")
    second = ReadonlySettings((ReadonlyReplica("10.0.0.102", 3307),))
    again = edit_config_php(out, dbhost=VIP, dbport=PORT, readonly=second)
    options = _php_eval(tmp_path, again)["dboptions"]
    assert isinstance(options, dict)
    assert options["readonly"] == {"instance": [{"dbhost": "10.0.0.102", "dbport": 3307}]}
    assert again.count(b"readonly") == 1


def test_existing_readonly_left_alone_without_request() -> None:
    src = (
        b"<?php\n$CFG->dbhost = 'db1';\n"
        b"$CFG->dboptions = ['readonly' => ['instance' => 'db2'], 'dbport' => 3306];\n"
    )
    out = edit_config_php(src, dbhost=VIP, dbport=PORT)
    assert b"'readonly' => ['instance' => 'db2']" in out


@needs_php
def test_php_single_quoted_round_trips(tmp_path: Path) -> None:
    values = [NASTY, "", "\\", "'", "a\\'b", "x\\\\y", "line\nbreak", "tab\there"]
    script = tmp_path / "q.php"
    body = ", ".join(php_single_quoted(v) for v in values)
    script.write_text(f"<?php echo json_encode([{body}]);")
    assert PHP is not None
    run = subprocess.run([PHP, str(script)], capture_output=True, check=True)
    assert json.loads(run.stdout) == values


REFUSED = {
    "no dbhost": (b"<?php\n$CFG->dboptions = [];\n", "no `$CFG->dbhost"),
    "dbhost twice": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = [];\n$CFG->dbhost = 'b';\n",
        "more than once (lines 2, 4)",
    ),
    "dbhost from getenv": (
        b"<?php\n$CFG->dbhost = getenv('DB');\n$CFG->dboptions = [];\n",
        "not a simple string literal",
    ),
    "dbhost concatenated": (
        b"<?php\n$CFG->dbhost = 'db' . '1';\n$CFG->dboptions = [];\n",
        "not a simple string literal",
    ),
    "dbhost interpolated": (
        b'<?php\n$CFG->dbhost = "db$n";\n$CFG->dboptions = [];\n',
        "not a simple string literal",
    ),
    "dbhost appended": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dbhost .= 'b';\n$CFG->dboptions = [];\n",
        "more than once",
    ),
    "dbhost in a block": (
        b"<?php\nif ($x) { $CFG->dbhost = 'a'; }\n$CFG->dboptions = [];\n",
        "inside a block",
    ),
    "no dboptions": (b"<?php\n$CFG->dbhost = 'a';\n", "no `$CFG->dboptions"),
    "dboptions from a variable": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = $opts;\n",
        "not a literal array",
    ),
    "dboptions merged": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = array_merge($a, []);\n",
        "not a literal array",
    ),
    "dboptions plus": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = [] + $defaults;\n",
        "single array literal",
    ),
    "dbport overridden later": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = [];\n$CFG->dboptions['dbport'] = 1;\n",
        "changed again on line 4",
    ),
    "dbport computed": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = ['dbport' => getenv('P')];\n",
        "not a simple value",
    ),
    "duplicate key": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = ['dbport' => 1,\n'dbport' => 2];\n",
        "twice (lines 3 and 4)",
    ),
    "computed key": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = [KEY => 1];\n",
        "not a literal",
    ),
    "spread": (
        b"<?php\n$CFG->dbhost = 'a';\n$CFG->dboptions = [...$base];\n",
        "spreads another array",
    ),
    "unterminated string": (b"<?php\n$CFG->dbhost = 'a;\n", "unterminated string"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refusals_name_the_problem(name: str) -> None:
    src, message = REFUSED[name]
    with pytest.raises(ConfigPhpError) as info:
        edit_config_php(src, dbhost=VIP, dbport=PORT)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [("localhost", PORT, "socket"), ("bad host", PORT, "not a host"), (VIP, 0, "1..65535")],
)
def test_bad_new_values_refused(host: str, port: int, message: str) -> None:
    with pytest.raises(ConfigPhpError, match=message):
        edit_config_php(CONFIG_DIST, dbhost=host, dbport=port)


def test_diff_for_the_plan_masks_secrets() -> None:
    ro = ReadonlySettings((ReadonlyReplica(VIP, PORT, "moodle_ro", NASTY),))
    out = edit_config_php(CONFIG_DIST, dbhost=VIP, dbport=PORT, readonly=ro)
    diff = config_php_diff(CONFIG_DIST, out, secrets=[NASTY, "S3cr'et\"$x"])
    assert "-$CFG->dbhost    = 'localhost';" in diff
    assert "+$CFG->dbhost    = '10.0.0.100';" in diff
    assert "+    'dbport'    => 6033," in diff
    assert f"'dbpass' => '{MASK}'" in diff
    assert NASTY not in diff and php_single_quoted(NASTY)[1:-1] not in diff
    assert config_php_diff(CONFIG_DIST, CONFIG_DIST) == ""
