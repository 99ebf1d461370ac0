"""The cold start (docs/benchmarks.md, figure 6): the first screen is painted before the
engine's modules (SSH, MySQL, the steps) are loaded, and they are loaded behind it, so the
operator's first key does not wait for them. Each check runs in a fresh interpreter: in this
one the other tests have long imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Loaded by the engine, never by the first screen.
ENGINE = ("asyncssh", "aiomysql", "pymysql", "cryptography", "moodle_wizard.core.engine",
          "moodle_wizard.core.context", "moodle_wizard.core.steps.registry",
          "moodle_wizard.tui.ops", "rich.markdown")

PROBE = """
import asyncio, json, sys
from moodle_wizard.tui.app import WizardApp

ENGINE = {engine!r}
seen = {{"imported": [m for m in ENGINE if m in sys.modules]}}


class Probe(WizardApp):
    def on_ready(self) -> None:  # runs before the app's own: the first frame is out
        seen["first_frame"] = [m for m in ENGINE if m in sys.modules]
        seen["screen"] = type(self.screen).__name__


async def main() -> None:
    app = Probe()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.engine_loader is not None
        app.engine_loader.join(60)
        seen["loaded_behind"] = [m for m in ENGINE if m in sys.modules]

asyncio.run(main())
print(json.dumps(seen))
"""


def run_probe(state_dir: Path) -> dict[str, list[str] | str]:
    env = {**os.environ, "MOODLE_WIZARD_STATE_DIR": str(state_dir)}
    out = subprocess.run([sys.executable, "-c", PROBE.format(engine=ENGINE)], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, list[str] | str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_welcome_screen_is_painted_before_the_engine_is_loaded(state_dir: Path) -> None:
    seen = run_probe(state_dir)
    assert seen["imported"] == [], "imported with the app"
    assert seen["screen"] == "WelcomeScreen"
    assert seen["first_frame"] == [], "loaded before the first frame"
    # Then the thread has loaded them all, behind the first screen.
    assert seen["loaded_behind"] == list(ENGINE)
