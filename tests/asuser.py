"""Run this checkout's code as another user (uid 65534) from a copy that user can read.

The checkout may be private: a clone under /root (0700) or in a `mktemp -d` directory, with
the venv inside it. Another user can then neither import the package from the checkout nor
start the venv's Python, so a test that runs the wizard as that user would fail with
"No module named moodle_wizard" instead of checking what it means to check. This makes a
private install that user can read, in a fresh 0755 directory removed afterwards: the package
copied from this checkout (the code under test) and, when asked, its runtime dependencies
(pyproject's [project] dependencies and what they require, file by file from the venv), and
finds a Python of the venv's version (compiled dependencies are built for it) that the user can
start. Needs root (to start processes as another user).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class ReadableInstall:
    python: str
    path: Path  # the directory that goes on PYTHONPATH
    uid: int

    def run(self, argv: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`python -s ARGV` as the user, with only the copy on its path, from /."""
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [self.python, "-s", *argv], capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, cwd="/", env=_env(self.path), **_as(self.uid))


def _as(uid: int) -> dict[str, object]:
    return {"user": uid, "group": uid, "extra_groups": []}


def _env(path: Path | None) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    return env


@functools.cache
def runnable_python(uid: int = NOBODY) -> str | None:
    """A Python of this interpreter's version that uid can start, or None. The venv's own
    python is tried first; a venv inside a private checkout is not reachable for others."""
    candidates = [sys.executable, os.path.realpath(sys.executable),
                  getattr(sys, "_base_executable", sys.executable),
                  shutil.which(f"python{VERSION}", path="/usr/local/bin:/usr/bin:/bin")]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            out = subprocess.run(
                [python, "-s", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30, cwd="/", env=_env(None),
                **_as(uid))  # type: ignore[call-overload]
        except (PermissionError, FileNotFoundError):
            continue
        if out.returncode == 0 and out.stdout.strip() == VERSION:
            return python
    return None


def _runtime_distributions() -> list[metadata.Distribution]:
    """pyproject's runtime dependencies and everything they require, as installed."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        wanted = [Requirement(r) for r in tomllib.load(f)["project"]["dependencies"]]
    seen: dict[str, metadata.Distribution] = {}
    while wanted:
        req = wanted.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise AssertionError(
                f"{req.name} is not installed in {sys.prefix}: run `make venv`") from None
        seen[name] = dist
        for sub in (Requirement(r) for r in dist.requires or []):
            extras = {"", *req.extras}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                wanted.append(sub)
    return list(seen.values())


def _copy_distribution(dist: metadata.Distribution, site: Path) -> None:
    for rel in dist.files or []:
        if rel.parts[0] == ".." or rel.parts[0].endswith(".pth"):
            continue  # scripts in bin/, path hooks: not needed to import
        src = Path(str(dist.locate_file(rel)))
        if src.is_file():
            dest = site / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


def _readable_tmp() -> str:
    """$TMPDIR if others can get into it (every directory above it too), else /tmp."""
    tmp = Path(tempfile.gettempdir()).resolve()
    if all(p.stat().st_mode & stat.S_IXOTH for p in (tmp, *tmp.parents)):
        return str(tmp)
    return "/tmp"


@contextmanager
def readable_install(dependencies: bool = True, uid: int = NOBODY) -> Iterator[ReadableInstall]:
    """The package (and its runtime dependencies unless dependencies=False: enough for
    stdlib-only modules) in a 0755 temp directory, removed on exit. Skips the test when no
    Python of this version can be started by uid."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run code as another user")
    python = runnable_python(uid)
    if python is None:
        pytest.skip(f"no Python {VERSION} that uid {uid} can start")
    base = Path(tempfile.mkdtemp(prefix="mw-asuser-", dir=_readable_tmp()))
    try:
        site = base / "site"
        shutil.copytree(ROOT / "moodle_wizard", site / "moodle_wizard",
                        ignore=shutil.ignore_patterns("__pycache__"))
        if dependencies:
            for dist in _runtime_distributions():
                _copy_distribution(dist, site)
        for p in [base, *base.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() or p.stat().st_mode & stat.S_IXUSR else 0o644)
        yield ReadableInstall(python, site, uid)
    finally:
        shutil.rmtree(base)
