"""Every checkbox, radio button and form label of the flow screens, and every entry of the
Operate screen's menu, shows its whole text at 80x24 and 120x40, with and without the guide
panel (which takes a third of the width): a label too long for its line wraps, it is never
cut off. Read from what the screen draws (Textual's SVG export), inside each widget's own
region."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets import Label, OptionList
from textual.widgets._toggle_button import ToggleButton

from moodle_wizard.core.state import StepName
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.clock import FixedClock
from tests.tui.conftest import lab_inventory_text, save_migration, screen_text

SIZES = [(80, 24), (120, 40)]
SCREENS = ["hosts", "backup", "replicas", "proxysql", "vip", "operate"]
# The journal each screen is opened with: the Operate screen is for a completed migration.
STATUSES = {"operate": {n.value: "done" for n in StepName}}


def label_of(widget: Widget) -> str:
    if isinstance(widget, ToggleButton):
        return widget.label.plain
    if isinstance(widget, OptionList):  # its entries, one after the other
        return " ".join(str(widget.get_option_at_index(i).prompt)
                        for i in range(widget.option_count))
    assert isinstance(widget, Label)
    return str(widget.render())


def drawn_in(text: str, widget: Widget) -> str:
    """The screen's text inside the widget's region, its lines joined by spaces."""
    r = widget.region
    rows = text.splitlines()[r.y:r.y + r.height]
    return " ".join(" ".join(row[r.x:r.x + r.width].split()) for row in rows)


def cut_labels(shown: list[tuple[str, str]]) -> list[str]:
    return [f"{label!r} shows as {drawn!r}" for label, drawn in shown
            if " ".join(label.split()) not in drawn]


def test_a_cut_label_is_found() -> None:
    """The check itself: the replicas checkbox as it was drawn at 80x24 before it wrapped."""
    label = "move a non-empty datadir aside (renamed, never deleted)"
    assert cut_labels([(label, "▐ ▌ move a non-empty datadir aside (renamed, never deleted")])
    assert not cut_labels([(label, "▐ ▌ move a non-empty datadir aside (renamed, never "
                                   "deleted)")])


@pytest.mark.parametrize("guide", [False, True], ids=["plain", "guide"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", SCREENS)
async def test_every_label_is_shown_whole(state_dir: Path, screen: str, size: tuple[int, int],
                                          guide: bool) -> None:
    path = save_migration(state_dir, statuses=STATUSES.get(screen, {"discover": "done"}),
                          inventory=lab_inventory_text())
    app = WizardApp(clock=FixedClock(), blink=False, ask_resume=False, guide=guide)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.open_saved(path)
        app.goto(screen)
        await pilot.pause()
        # Shown: the widget and every container it is in (a form part hidden until its
        # choice is made is not drawn, so not cut either).
        widgets = [w for w in app.screen.query("ToggleButton, Label.form-label, OptionList")
                   if all(getattr(n, "display", True) for n in w.ancestors_with_self)
                   and label_of(w)]
        assert widgets, f"{screen} has no labels to check"
        shown = []
        for widget in widgets:
            widget.scroll_visible(animate=False, immediate=True)
            await pilot.pause()
            shown.append((label_of(widget), drawn_in(screen_text(app), widget)))
        assert not cut_labels(shown), cut_labels(shown)
