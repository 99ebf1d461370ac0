"""The wizard's one error root, and the one place that tells the operator's problems from bugs.

Every error the wizard raises on purpose derives from `WizardError`. Those the operator fixes
(an unreachable host, a refused host key, a bad inventory, an unsupported server version, a
failed command, a migration another wizard holds) derive from `OperatorError`: their str() is
one clear line naming the problem and what to do, and both faces show exactly that line, never
a traceback. Anything else that escapes an operation is a bug in the wizard: its traceback goes
to the bug log, and the operator sees one short note naming that log.

`explain` is the only place that decides which is which; the headless commands and the TUI
both call it, so the two can never disagree about an exception.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

__all__ = ["OperatorError", "StepError", "Verdict", "WizardError", "attach_mask", "explain"]

Mask = Callable[[str], str]

# Where open_session leaves its secret mask on an exception that escapes it (see attach_mask).
_MASK_ATTR = "_moodle_wizard_mask"


class WizardError(Exception):
    """The root of every error the wizard raises on purpose."""


class OperatorError(WizardError):
    """A problem the operator fixes. str() is one line: what is wrong and what to do.

    `bad_input`: the input was refused before anything was tried (the inventory, the state
    file, a secret, a command-line value); headless exits 2 for these, 1 for the others.
    """

    bad_input: ClassVar[bool] = False


class StepError(OperatorError):
    """A step cannot go on; the message names the problem and the fix."""


@dataclass(frozen=True)
class Verdict:
    """What to show for an exception: `text` is the whole message (the operator's line, or
    the short note about a bug naming the log that holds its traceback)."""

    operator: bool
    bad_input: bool
    text: str


def attach_mask(exc: BaseException, mask: Mask) -> None:
    """Remember on `exc` how to mask the secrets of the session it escaped from, so the bug
    log written far from that session still never holds a password."""
    if getattr(exc, _MASK_ATTR, None) is None:
        # An exception type with __slots__ cannot carry it: the caller's mask only, then.
        with contextlib.suppress(AttributeError):
            setattr(exc, _MASK_ATTR, mask)


def explain(exc: BaseException, *, log: Path, mask: Mask | None = None) -> Verdict:
    """Decide whether `exc` is the operator's to fix or a bug, and say it.

    An operator error: its own message, masked. Anything else: the traceback (masked) is
    appended to `log` (0600) and the verdict is a one-line note naming the log. `mask` is the
    caller's (secrets.mask_password_hashes at least); a session's own mask travels with the
    exception (attach_mask).
    """
    masking = _masker(exc, mask)
    if isinstance(exc, OperatorError):
        return Verdict(True, exc.bad_input, masking(str(exc)))
    what = masking(_one_line(f"{type(exc).__name__}: {exc}", 200))
    where = _write_bug(exc, log, masking)
    return Verdict(False, False, f"{what} - a bug in moodle-wizard, not in your setup; "
                   f"{where}; please report it with that log")


def _masker(exc: BaseException, mask: Mask | None) -> Mask:
    attached = getattr(exc, _MASK_ATTR, None)
    masks = [m for m in (mask, attached) if callable(m)]

    def apply(text: str) -> str:
        for m in masks:
            text = m(text)
        return text
    return apply


def _write_bug(exc: BaseException, log: Path, mask: Mask) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = "".join(traceback.format_exception(exc))
    entry = f"--- {stamp} pid {os.getpid()}: a bug in moodle-wizard\n{mask(text)}\n"
    try:
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(entry)
    except OSError as err:
        return f"the traceback could not be written to {log} ({err.strerror})"
    return f"the traceback is in {log}"


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
