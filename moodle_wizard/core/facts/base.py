"""The common base of every facts model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Facts(BaseModel):
    # A key no model knows means a corrupt or foreign journal, not something to drop.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
