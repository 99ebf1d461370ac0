"""Packaging rules: core/ never imports Textual; the installed wheel finds its styles."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "moodle_wizard" / "core"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_source_never_imports_textual() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert files, "core/ has no modules?"
    offenders = {
        str(f.relative_to(ROOT)): sorted(m for m in imported_modules(f)
                                         if m == "textual" or m.startswith("textual."))
        for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_core_module_loads_no_textual() -> None:
    modules = [
        ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for f in sorted(CORE.rglob("*.py"))
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == ""


def test_the_ast_check_would_catch_a_textual_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from textual.app import App\nimport textual\n")
    assert imported_modules(bad) == {"textual.app", "textual"}


def test_installed_wheel_finds_its_styles(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(wheel_dir), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheels = list(wheel_dir.glob("moodle_wizard-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
        "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheels[0])], check=True, capture_output=True, timeout=300)
    # The fresh venv gets the project from the wheel only; its dependencies (textual ...) come
    # from this environment's site-packages on PYTHONPATH, which holds no copy of the project.
    deps = sysconfig.get_paths()["purelib"]
    code = (
        "import asyncio, moodle_wizard, moodle_wizard.resources as r\n"
        "from moodle_wizard.tui.app import WizardApp\n"
        "print(moodle_wizard.__file__)\n"
        "print(r.styles_dir())\n"
        "async def main():\n"
        "    app = WizardApp()\n"
        "    async with app.run_test(size=(80, 24)):\n"
        "        print(app.screen.query_one('#welcome-text').styles.border_top[0])\n"
        "asyncio.run(main())\n"
    )
    env = {"PYTHONPATH": deps, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    module_file, styles, border = proc.stdout.split()
    assert module_file.startswith(str(venv))
    assert styles.startswith(str(venv)) and Path(styles, "wizard.tcss").is_file()
    assert border == "round", "the stylesheet from the wheel was applied"
