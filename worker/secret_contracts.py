"""What the API and the worker agree on for secret commands: the workflow's name and input.

A secret's value must never be readable in Temporal (workflow inputs are kept in its history
for the namespace's retention period), so the command carries it *sealed*: AES-256-GCM under a
key derived from the master key, bound to the org and name (worker/secret_transit.py). Only a
process holding BYTEDASH_MASTER_KEY (the API that sealed it, the worker that stores it) can
open it. No crypto here: workflow code imports this module.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from worker.contracts import CommandMeta

SECRET_COMMAND_WORKFLOW = "SecretCommandWorkflow"


class SecretCommand(BaseModel):
    """Set (`sealed_value` given) or delete an org's secret `name`."""

    meta: CommandMeta
    action: Literal["set", "delete"]
    name: str
    # base64 of nonce || AES-256-GCM ciphertext || tag (worker/secret_transit.py); set only.
    sealed_value: str | None = None
