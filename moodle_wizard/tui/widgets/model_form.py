"""A form for one section of the engine's inventory model, built from its pydantic fields.

The ProxySQL and VIP screens edit sections the engine defines; this form follows whatever
fields the engine's model has (type, default, description), so a field added there appears
here without a change to the wizard. Validation is the model's own."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Label, Select

from moodle_wizard.tui.draft import field_error
from moodle_wizard.tui.widgets.form_field import FormField
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.tick_box import TickBox

SECRET_WORDS = ("password", "secret", "pass")


def _choices(annotation: Any) -> list[str] | None:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return None


def _base_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _convert(kind: Any, text: str) -> Any:
    if text == "":
        return None
    if kind is int:
        try:
            return int(text)
        except ValueError:
            return text
    if kind is float:
        try:
            return float(text)
        except ValueError:
            return text
    return text


class ModelForm(Vertical):
    class Changed(Message):
        def __init__(self, form: ModelForm, field: str, value: Any) -> None:
            super().__init__()
            self.form = form
            self.field = field
            self.value = value

    def __init__(self, section: str, model: type[BaseModel], values: dict[str, Any], *,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="model-form")
        self.section = section
        self.model = model
        self.values = dict(values)
        self._kinds: dict[str, Any] = {}

    def _default(self, info: FieldInfo) -> Any:
        if info.is_required():
            return None
        return info.get_default(call_default_factory=True)

    def compose(self) -> ComposeResult:
        for name, info in self.model.model_fields.items():
            kind = _base_type(info.annotation)
            value = self.values.get(name, self._default(info))
            label = name.replace("_", " ")
            hint = info.description or ""
            if any(w in name for w in SECRET_WORDS):
                yield PlainText(f"{label}: a secret - set it in the secrets file or the "
                             "environment; the wizard never writes one", classes="form-hint")
                continue
            choices = _choices(kind)
            if kind is bool:
                yield TickBox(label, bool(value), id=f"{self.section}-{name}", name=name,
                              classes="form-check", compact=True)
                if hint:
                    yield PlainText(hint, classes="form-hint")
            elif choices is not None:
                with Horizontal(classes="form-row"):
                    yield Label(label, classes="form-label")
                    current = str(getattr(value, "value", value)) if value is not None else None
                    yield Select([(c, c) for c in choices], value=current or Select.BLANK,
                                 allow_blank=not info.is_required(), compact=True,
                                 id=f"{self.section}-{name}", name=name)
                if hint:
                    yield PlainText(hint, classes="form-hint")
            else:
                def check(text: str, name: str = name, kind: Any = kind) -> str | None:
                    return self._problem(name, _convert(kind, text))

                self._kinds[name] = kind
                yield FormField(label, "" if value is None else str(value), check=check,
                                hint=hint, id=f"{self.section}-{name}", name=name)

    def _problem(self, name: str, value: Any) -> str | None:
        base = {k: v for k, v in self.values.items() if k != name and v is not None}
        if value is None:
            info = self.model.model_fields[name]
            return "required" if info.is_required() else None
        return field_error(self.model, base, name, value)

    def _changed(self, name: str, value: Any) -> None:
        self.values[name] = value
        self.post_message(self.Changed(self, name, value))

    def on_form_field_changed(self, event: FormField.Changed) -> None:
        name = event.field.name
        if name:
            event.stop()
            self._changed(name, _convert(self._kinds.get(name, str), event.field.value))

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.name:
            event.stop()
            self._changed(event.checkbox.name, event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.name:
            value = None if event.value is Select.BLANK else event.value
            self._changed(event.select.name, value)

    def problems(self) -> list[str]:
        out = []
        for field in self.query(FormField):
            problem = field.show_problem()
            if problem:
                out.append(f"{field.label}: {problem}")
        return out
