from __future__ import annotations

from textual.widgets import Footer

from moodle_wizard.tui.app import WizardApp


async def test_welcome_screen_fits_80x24_and_quits_by_key() -> None:
    app = WizardApp()
    async with app.run_test(size=(80, 24)) as pilot:
        text = app.screen.query_one("#welcome-text")
        assert text.region.width <= 80
        assert "lab up" in str(text.render())
        assert app.screen.query(Footer)
        await pilot.press("q")
    assert app.return_code == 0
