"""The contact erasure workflow's input, answer and activity signatures (no I/O here, so the
workflow module may import it through the sandbox)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pydantic import BaseModel, Field
from temporalio import activity

CONTACT_ERASURE_WORKFLOW = "ContactErasureWorkflow"
# The reason a running execution of an erased contact is cancelled with (before the erasure's).
ERASED_REASON = "contact erased"


def erasure_workflow_id(contact_id: str) -> str:
    """One erasure workflow per contact (an id that carries no personal data, so its own
    payloads are sealed with the shared key and survive the erasure)."""
    return f"erasure-{contact_id}"


class ContactErasure(BaseModel):
    org_id: str
    contact_id: str
    actor: str | None = None
    reason: str | None = None

    def cancel_reason(self) -> str:
        return f"{ERASED_REASON}: {self.reason}" if self.reason else ERASED_REASON

    def key_reason(self) -> str:
        return f"contact {self.contact_id} erased" + (f": {self.reason}" if self.reason else "")


class ErasureOutcome(BaseModel):
    cancelled: list[str] = Field(default_factory=list)
    """Executions of the contact that were running and were cancelled."""
    still_running: list[str] = Field(default_factory=list)
    """Of those, the ones that had not closed when the keys were destroyed."""
    keys_destroyed: int = 0


class ErasureActivities(ABC):
    @activity.defn(name="erasure_running_executions")
    @abstractmethod
    async def running_executions(self, erasure: ContactErasure) -> list[str]:
        """Ids of the contact's executions whose workflow is still running."""

    @activity.defn(name="erasure_still_running")
    @abstractmethod
    async def still_running(self, execution_ids: list[str]) -> list[str]:
        """Of these executions, those whose workflow has not closed."""

    @activity.defn(name="erasure_destroy_payload_keys")
    @abstractmethod
    def destroy_payload_keys(self, erasure: ContactErasure) -> int:
        """Destroy the Temporal payload keys of every workflow of the contact."""
