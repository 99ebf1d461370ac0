"""The PHP that evaluates config.php on the app host: its own error messages reach the wizard
(read from stdin, PHP's CLI defines no STDERR constant; issue 6 found them all swallowed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from moodle_wizard.core.steps.discover import READ_CONFIG_PHP

pytestmark = pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli")


def evaluate(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["php", "--", path], input=READ_CONFIG_PHP.read_text(),
                          capture_output=True, text=True, timeout=30)


def test_a_missing_config_php_is_named(tmp_path: Path) -> None:
    out = evaluate(str(tmp_path / "nope" / "config.php"))
    assert out.returncode == 3, out.stderr
    assert f"no config.php at {tmp_path}/nope/config.php" in out.stderr
    assert "Undefined constant" not in out.stderr


def test_a_config_php_without_cfg_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.php"
    path.write_text("<?php\n$x = 1;\n")
    out = evaluate(str(path))
    assert out.returncode == 5, out.stderr
    assert "does not define $CFG" in out.stderr
