"""Shell text the lab's provisioning scripts are made of (pure)."""

from __future__ import annotations

import shlex
from pathlib import Path


def write_file(path: str, content: str, mode: str = "0644") -> str:
    """Shell that writes content to path (via a quoted heredoc: no expansion)."""
    marker = "MWLAB_EOF_7f3a"
    assert marker not in content
    return (
        f"mkdir -p {shlex.quote(str(Path(path).parent))}\n"
        f"cat > {shlex.quote(path)} <<'{marker}'\n{content}"
        f"{'' if content.endswith(chr(10)) else chr(10)}{marker}\n"
        f"chmod {mode} {shlex.quote(path)}\n"
    )
