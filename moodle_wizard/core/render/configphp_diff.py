"""The config.php edit as a unified diff for the plan, with every secret masked."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

from moodle_wizard.core.php.lexer import php_double_quoted, php_single_quoted
from moodle_wizard.core.sql.quoting import MASK

__all__ = ["MASK", "config_php_diff", "mask_secret_settings"]


# A string literal assigned to a setting whose name says it is a secret: `$CFG->dbpass = '..'`,
# `'dbpass' => ".."`, `$CFG->passwordsaltmain = ..`, a readonly instance's dbpass at any depth.
_SECRET_SETTING = re.compile(
    r"""((?:->|['"])\w*(?:pass|secret|salt|token)\w*['"]?\s*\]?\s*=>?\s*)"""
    r"""(?:'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""",
    re.IGNORECASE,
)


def mask_secret_settings(text: str) -> str:
    """Every literal assigned to a password-like setting, masked: the wizard may not know
    a password someone else put into config.php."""
    return _SECRET_SETTING.sub(lambda m: f"{m.group(1)}'{MASK}'", text)


def _mask(text: str, secrets: Iterable[str]) -> str:
    text = mask_secret_settings(text)
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= {secret, php_single_quoted(secret)[1:-1], php_double_quoted(secret)[1:-1]}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def config_php_diff(
    original: bytes,
    edited: bytes,
    *,
    secrets: Sequence[str] = (),
    filename: str = "config.php",
    labels: tuple[str, str] = ("now", "after cutover"),
    mask: bool = True,
) -> str:
    """A unified diff of the edit for the plan, with every secret (and its escaped PHP form)
    and every literal of a password-like setting masked. Empty when nothing changes.
    `mask=False` is for counting changed lines only: never show that one."""
    before = original.decode("utf-8", "replace")
    after = edited.decode("utf-8", "replace")
    if mask:
        before, after = _mask(before, secrets), _mask(after, secrets)
    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{filename} ({labels[0]})",
        tofile=f"{filename} ({labels[1]})",
    )
    lines = [line if line.endswith("\n") else line + "\n" for line in diff]
    return "".join(line.replace("\r\n", "\n") for line in lines)
