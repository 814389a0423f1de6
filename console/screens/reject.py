"""Reject an application. Final, so a reason is required: the applicant reads it."""
from __future__ import annotations

from typing import Any

from tenantops.console.screens.approve import summary
from tenantops.console.screens.reason import ReasonDialog

REASON_LIMIT = 4000


class RejectDialog(ReasonDialog):
    def __init__(self, app: dict[str, Any]) -> None:
        super().__init__("Reject application", summary(app),
                         label="Reason (required; the applicant reads it; rejection is final)",
                         placeholder="e.g. duplicate of an existing organisation", confirm="Reject",
                         limit=REASON_LIMIT)
        self.application = app
