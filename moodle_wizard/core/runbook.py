"""The runbook: every step's actions with the commands and SQL they run, secrets masked."""

from __future__ import annotations

from moodle_wizard.core.context import Context
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.order import choose_order
from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented


async def runbook_markdown(ctx: Context) -> str:
    """Discover (read-only) to learn what the plan depends on, then render every step."""
    discover = STEP_CLASSES[StepName.DISCOVER](ctx)
    await discover.preflight()
    for action in discover.plan():
        await action.run()
    inv = ctx.inventory
    if ctx.state.order is None:
        ctx.state.order, why = choose_order(ctx)
    else:
        why = "as journaled"
    lines = [f"# Runbook: migration {inv.migration.name}", "",
             f"Source {inv.source}, replicas {', '.join(inv.replicas)}, backup method "
             f"{inv.migration.backup_method.value}, order {ctx.state.order} ({why}). Secrets "
             "are shown as ********.", ""]
    for n, name in enumerate(implemented(ctx.state), 1):
        step = STEP_CLASSES[name](ctx)
        lines += [f"## {n}. {step.title} (`{name}`)", "", step.summary, ""]
        for action in step.plan():
            lines.append(f"### {action.title}")
            lines.append("")
            lines.append("```")
            lines += [ctx.secrets.mask(line) for line in action.runbook]
            lines.append("```")
            lines.append("")
        rollback = step.rollback_plan()
        if rollback:
            lines.append("Rollback: " + "; ".join(a.title for a in rollback) + ".")
            lines.append("")
    return "\n".join(lines)
