"""One SQL statement with its parameters: the object that is both run and shown."""

from __future__ import annotations

from dataclasses import dataclass, field

from moodle_wizard.core.sql.quoting import MASK, string_literal

__all__ = ["SqlParam", "Statement"]

SqlParam = str | int


@dataclass(frozen=True)
class Statement:
    """One SQL statement with its parameters.

    `secret` holds the indexes of parameters that must never be shown (plans, logs).
    Run it as `cursor.execute(stmt.sql, stmt.args)`: with no parameters `args` is None so the
    driver does not %-format the text (SHOW GRANTS output may contain a literal '%' host).
    """

    sql: str
    params: tuple[SqlParam, ...] = ()
    secret: frozenset[int] = field(default_factory=frozenset)

    @property
    def args(self) -> tuple[SqlParam, ...] | None:
        return self.params if self.params else None

    def display(self) -> str:
        """The statement for a plan or runbook, secrets masked. Not for execution."""
        if not self.params:
            return self.sql
        shown: list[str] = []
        for i, value in enumerate(self.params):
            if i in self.secret:
                shown.append(f"'{MASK}'")
            elif isinstance(value, int):
                shown.append(str(value))
            else:
                shown.append(string_literal(value))
        return self.sql % tuple(shown)
