"""Where the installed package finds its non-code files."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def styles_dir() -> Path:
    """The TCSS directory: inside the package when installed from a wheel, the repository's
    top-level styles/ when running from a checkout (editable install)."""
    for candidate in (_PACKAGE / "styles", _PACKAGE.parent / "styles"):
        if (candidate / "wizard.tcss").is_file():
            return candidate
    raise FileNotFoundError(
        f"moodle-wizard styles not found next to {_PACKAGE}; reinstall the package"
    )
