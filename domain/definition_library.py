"""Ready-made workflow definitions users start from (``GET /templates``).

Plain data in the definition format of docs/contract.md, so a template is instantiated by creating a
definition from its body, and every template is checked by the same validator as user input
(tests/unit/domain/test_definition_library.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DefinitionTemplate:
    key: str
    name: str
    description: str
    category: str
    body: dict[str, Any]

    def instantiate(self, name: str | None = None) -> dict[str, Any]:
        """A fresh copy of the body, optionally renamed."""
        body = copy.deepcopy(self.body)
        if name:
            body["name"] = name
        return body


APPLICANT_ONBOARDING: dict[str, Any] = {
    "name": "Applicant Onboarding",
    "description": "A form submission becomes a contact and a review task; the reviewer's "
    "outcome decides between a welcome and a rejection email.",
    "statuses": [
        {"id": "in_review", "label": "In review", "color": "blue"},
        {"id": "approved", "label": "Approved", "color": "green"},
        {"id": "rejected", "label": "Rejected", "color": "red"},
    ],
    "steps": [
        {
            "id": "step_1",
            "type": "trigger",
            "name": "Form Submitted",
            "config": {
                "type": "form_submission",
                "contact": {
                    "first_name": "{{payload.first_name}}",
                    "last_name": "{{payload.last_name}}",
                    "email": "{{payload.email}}",
                },
            },
        },
        {
            "id": "step_2",
            "type": "update_status",
            "name": "Mark In Review",
            "config": {"status": "in_review"},
        },
        {
            "id": "step_3",
            "type": "assign_task",
            "name": "Assign Review Task",
            "config": {
                "title": "Review {{contact.first_name}}'s Application",
                "description": "Review the submitted application and approve or reject it.",
                "assign_to": "role:admin",
                "priority": "medium",
                "due_date": "{{now + 3 days}}",
            },
        },
        {
            "id": "step_4",
            "type": "wait_for_task",
            "name": "Wait for Review",
            "config": {
                "task_from_step": "step_3",
                "timeout_days": 7,
                "on_timeout": "send_reminder",
                "max_reminders": 2,
            },
        },
        {
            "id": "step_5",
            "type": "condition",
            "name": "Check Review Outcome",
            "config": {
                "field": "{{step_4.task.metadata.outcome}}",
                "branches": [
                    {"if": "approved", "then_goto": "step_6"},
                    {"if": "rejected", "then_goto": "step_8"},
                ],
                "default": "step_8",
            },
        },
        {
            "id": "step_6",
            "type": "update_status",
            "name": "Mark as Approved",
            "config": {"status": "approved"},
        },
        {
            "id": "step_7",
            "type": "send_email",
            "name": "Send Welcome Email",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Welcome aboard, {{contact.first_name}}!",
                "body": "Hi {{contact.first_name}}, your application was approved.",
            },
            "next": "end",
        },
        {
            "id": "step_8",
            "type": "update_status",
            "name": "Mark as Rejected",
            "config": {"status": "rejected"},
        },
        {
            "id": "step_9",
            "type": "send_email",
            "name": "Send Rejection Email",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Your application",
                "body": "Hi {{contact.first_name}}, thank you for applying; we will not "
                "proceed this time.",
            },
        },
    ],
}

EMPLOYEE_ONBOARDING: dict[str, Any] = {
    "name": "Employee Onboarding",
    "description": "A new hire is asked for their documents; HR verifies them, with a nudge "
    "after two days, then IT provisions accounts before the start date.",
    "statuses": [
        {"id": "collecting_documents", "label": "Collecting documents", "color": "amber"},
        {"id": "provisioning", "label": "Provisioning", "color": "blue"},
        {"id": "ready", "label": "Ready to start", "color": "green"},
    ],
    "steps": [
        {
            "id": "hired",
            "type": "trigger",
            "name": "New Hire Created",
            "config": {"type": "manual"},
        },
        {
            "id": "collecting",
            "type": "update_status",
            "name": "Collecting Documents",
            "config": {"status": "collecting_documents"},
        },
        {
            "id": "ask_documents",
            "type": "send_email",
            "name": "Request Documents",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Documents for your first day",
                "body": "Hi {{contact.first_name}}, please send your ID, tax form and bank "
                "details before {{input.start_date}}.",
            },
        },
        {
            "id": "verify_documents",
            "type": "assign_task",
            "name": "Verify Documents",
            "config": {
                "title": "Verify {{contact.first_name}} {{contact.last_name}}'s documents",
                "assign_to": "role:hr",
                "priority": "high",
                "due_date": "{{now + 5 days}}",
            },
        },
        {
            "id": "nudge",
            "type": "reminder",
            "name": "Nudge HR",
            "config": {
                "task_from_step": "verify_documents",
                "delay_days": 2,
                "message": "Documents of {{contact.first_name}} are still waiting for you.",
            },
        },
        {
            "id": "documents_verified",
            "type": "wait_for_task",
            "name": "Wait for Verification",
            "config": {
                "task_from_step": "verify_documents",
                "timeout_days": 10,
                "on_timeout": "fail",
            },
        },
        {
            "id": "record_documents",
            "type": "update_contact",
            "name": "Record Documents",
            "config": {"fields": {"fields.documents_verified": "yes"}},
        },
        {
            "id": "provisioning",
            "type": "update_status",
            "name": "Provisioning",
            "config": {"status": "provisioning"},
        },
        {
            "id": "accounts",
            "type": "assign_task",
            "name": "Create Accounts",
            "config": {
                "title": "Create accounts for {{contact.first_name}}",
                "description": "Email, chat and payroll accounts.",
                "assign_to": "role:it",
                "priority": "medium",
            },
        },
        {
            "id": "accounts_done",
            "type": "wait_for_task",
            "name": "Wait for Accounts",
            "config": {
                "task_from_step": "accounts",
                "timeout_days": 3,
                "on_timeout": "send_reminder",
                "max_reminders": 3,
            },
        },
        {
            "id": "ready",
            "type": "update_status",
            "name": "Ready to Start",
            "config": {"status": "ready"},
        },
        {
            "id": "welcome",
            "type": "send_email",
            "name": "Welcome",
            "config": {
                "to": "{{contact.email}}",
                "subject": "See you on {{input.start_date}}",
                "body": "Everything is set, {{contact.first_name}}. Welcome to the team!",
            },
        },
    ],
}

BACKGROUND_CHECK: dict[str, Any] = {
    "name": "Background Check",
    "description": "Calls an external screening API, waits for its callback signal, and "
    "routes a flagged result to a human decision.",
    "statuses": [
        {"id": "screening", "label": "Screening", "color": "blue"},
        {"id": "clear", "label": "Clear", "color": "green"},
        {"id": "needs_review", "label": "Needs review", "color": "amber"},
        {"id": "not_cleared", "label": "Not cleared", "color": "red"},
    ],
    "steps": [
        {
            "id": "requested",
            "type": "trigger",
            "name": "Check Requested",
            "config": {"type": "webhook", "contact": {"email": "{{payload.email}}"}},
        },
        {
            "id": "screening",
            "type": "update_status",
            "name": "Screening",
            "config": {"status": "screening"},
        },
        {
            "id": "order_check",
            "type": "http_request",
            "name": "Order Screening",
            "config": {
                "method": "POST",
                "url": "{{payload.screening_url}}",
                "headers": {"Content-Type": "application/json"},
                "body": {
                    "email": "{{contact.email}}",
                    "reference": "{{execution.id}}",
                },
                "timeout_seconds": 30,
                "retries": 3,
            },
        },
        {
            "id": "result",
            "type": "wait_for_signal",
            "name": "Wait for Screening Result",
            "config": {"signal": "screening_result", "timeout_days": 5, "on_timeout": "review"},
        },
        {
            "id": "decide",
            "type": "condition",
            "name": "Check Result",
            "config": {
                "field": "{{result.payload.result}}",
                "branches": [{"if": "clear", "then_goto": "cleared"}],
                "default": "review",
            },
        },
        {
            "id": "cleared",
            "type": "update_status",
            "name": "Clear",
            "config": {"status": "clear"},
            "next": "end",
        },
        {
            "id": "review",
            "type": "update_status",
            "name": "Needs Review",
            "config": {"status": "needs_review"},
        },
        {
            "id": "review_task",
            "type": "assign_task",
            "name": "Review Screening",
            "config": {
                "title": "Review the screening of {{contact.email}}",
                "assign_to": "role:compliance",
                "priority": "high",
                "due_date": "{{now + 2 days}}",
            },
        },
        {
            "id": "review_done",
            "type": "wait_for_task",
            "name": "Wait for Decision",
            "config": {"task_from_step": "review_task", "timeout_days": 5, "on_timeout": "fail"},
        },
        {
            "id": "decision",
            "type": "condition",
            "name": "Decision",
            "config": {
                "field": "{{review_done.task.metadata.outcome}}",
                "branches": [{"if": "approved", "then_goto": "cleared"}],
                "default": "not_cleared",
            },
        },
        {
            "id": "not_cleared",
            "type": "update_status",
            "name": "Not Cleared",
            "config": {"status": "not_cleared"},
        },
    ],
}

LIBRARY: tuple[DefinitionTemplate, ...] = (
    DefinitionTemplate(
        "applicant_onboarding",
        APPLICANT_ONBOARDING["name"],
        APPLICANT_ONBOARDING["description"],
        "recruiting",
        APPLICANT_ONBOARDING,
    ),
    DefinitionTemplate(
        "employee_onboarding",
        EMPLOYEE_ONBOARDING["name"],
        EMPLOYEE_ONBOARDING["description"],
        "hr",
        EMPLOYEE_ONBOARDING,
    ),
    DefinitionTemplate(
        "background_check",
        BACKGROUND_CHECK["name"],
        BACKGROUND_CHECK["description"],
        "compliance",
        BACKGROUND_CHECK,
    ),
)


def template_named(key: str) -> DefinitionTemplate | None:
    return next((t for t in LIBRARY if t.key == key), None)
