"""What the ProxySQL and VIP screens share: a section of the inventory that the engine's
model defines (edited with a form built from that model), the step's plan as the step makes
it, and a clear note while this engine build does not have the step yet."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from moodle_wizard.core.inventory import InventoryError
from moodle_wizard.core.state import StepName
from moodle_wizard.tui import preview
from moodle_wizard.tui.draft import extra_sections
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.widgets.model_form import ModelForm
from moodle_wizard.tui.widgets.plain_text import PlainText


class SectionScreen(FlowScreen):
    STEP: ClassVar[StepName]
    SECTIONS: ClassVar[tuple[str, ...]] = ()

    def section(self) -> str | None:
        available = extra_sections()
        return next((s for s in self.SECTIONS if s in available), None)

    def body(self) -> ComposeResult:
        with VerticalScroll(id=f"{self.TOPIC}-body"):
            yield PlainText("", id=f"{self.TOPIC}-summary")
            section = self.section()
            if section is not None:
                yield PlainText("Settings", classes="section-title")
                yield ModelForm(section, extra_sections()[section],
                                self.wizard.draft.section(section), id=f"{self.TOPIC}-form")
            yield from self.extra()
            yield PlainText(f"What the {self.STEP.value} step will do", classes="section-title")
            yield PlainText("", id=f"{self.TOPIC}-plan")

    def extra(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        super().on_mount()
        for form in self.query(ModelForm):
            form.disabled = self.locked

    def on_screen_resume(self) -> None:
        self.show()

    def on_model_form_changed(self, event: ModelForm.Changed) -> None:
        event.stop()
        if not self.locked:
            self.wizard.draft.set(event.form.section, event.field, event.value)
        self.show()

    def summary(self) -> Text:
        return Text()

    def show(self) -> None:
        self.query_one(f"#{self.TOPIC}-summary", Static).update(self.summary())
        plan = self.query_one(f"#{self.TOPIC}-plan", Static)
        app = self.wizard
        try:
            inventory = app.draft.validate()
        except InventoryError as exc:
            plan.update(Text(f"✗ {exc}", style="red"))
            return
        if app.state is None:
            plan.update(Text("known after discovery", style="dim"))
            return
        step = preview.step_plan(inventory, app.state, self.STEP)
        if step.unavailable:
            plan.update(Text(f"the plan needs what earlier steps learn: {step.unavailable}",
                             style="dim"))
            return
        plan.update("\n".join(f"• {a.title}" for a in step.actions) or "(nothing to do)")

    def leave(self, validate: bool = True) -> bool:
        if self.locked or not validate:
            return True
        problems = [p for form in self.query(ModelForm) for p in form.problems()]
        if problems:
            self.notify(problems[0], severity="error")
            return False
        return self.draft_ok()

    def setting(self, *names: str) -> Any:
        """A setting from this screen's inventory section, or None."""
        section = self.section()
        if section is None:
            return None
        values = self.wizard.draft.section(section)
        model = extra_sections()[section]
        for name in names:
            if values.get(name) is not None:
                return values[name]
            info = model.model_fields.get(name)
            if info is not None and not info.is_required():
                return info.get_default(call_default_factory=True)
        return None
