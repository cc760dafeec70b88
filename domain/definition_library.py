"""Ready-made workflow definitions users start from (``GET /templates``).

Plain data in the definition format of docs/contract.md, so a template is instantiated by creating a
definition from its body, and every template is checked by the same validator as user input
(tests/unit/domain/test_definition_library.py).

A template may ask for configuration (docs/engine.md, "Templates library"): a JSON
schema of what it needs (a reviewer's role, an email to notify, a model), checked when it is
instantiated, every problem named at once. Its `source` holds ``[[name]]`` parameters where
those values go. They are a different syntax from the engine's ``{{…}}`` templates on purpose:
a parameter is filled once, when the definition is made, and never reaches an execution;
``{{…}}`` is rendered by every execution from its own data.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

# `[[name]]`: a configuration value. A string that is exactly one parameter takes the value
# with its JSON type (a number stays a number); inside other text the value is written as text.
PLACEHOLDER = re.compile(r"\[\[([a-z][a-z0-9_]*)\]\]")

# The engine's templates and the parameters themselves may not come in through a value: a
# configured role or address is data, and must not turn into an expression of the definition.
NO_EXPRESSIONS = r"^(?![\s\S]*(\{\{|\}\}|\[\[|\]\]))"
# A schema keyword of ours (JSON schema lets a schema carry its own): what a value that does not
# match a property's `pattern` should be, said to the caller instead of the regular expression.
PATTERN_PROBLEM = "x-pattern-problem"
NO_CONFIGURATION: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}


@dataclass(frozen=True)
class ConfigurationProblem:
    """One bad or missing configuration value: `field` is its path (`reviewer_role`,
    `limits.max`), empty for the configuration as a whole."""

    field: str
    message: str


class TemplateConfigurationError(ValueError):
    """A configuration the template's schema refuses; `problems` names every bad field."""

    def __init__(self, template_key: str, problems: list[ConfigurationProblem]) -> None:
        self.template_key = template_key
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"The configuration of template {template_key!r} has {count} "
            f"problem{'s' if count != 1 else ''}: "
            + "; ".join(f"{p.field or 'configuration'}: {p.message}" for p in problems)
        )


@dataclass(frozen=True)
class DefinitionTemplate:
    key: str
    name: str
    description: str
    category: str
    source: dict[str, Any]
    tags: tuple[str, ...] = ()
    # A JSON schema (draft 2020-12) of the object `configuration` must be; top-level
    # `default`s fill what the caller leaves out.
    configuration_schema: dict[str, Any] = field(default_factory=lambda: NO_CONFIGURATION)
    # A configuration the schema accepts: what `body` (and the listing) is filled with.
    example: dict[str, Any] = field(default_factory=dict)

    @property
    def body(self) -> dict[str, Any]:
        """The definition made with the example configuration: a definition as any other,
        which is what the listing shows and the validator checks."""
        return self.instantiate(configuration=self.example)

    @property
    def required_configuration(self) -> list[str]:
        return [str(name) for name in self.configuration_schema.get("required", [])]

    def configuration_problems(self, configuration: object) -> list[ConfigurationProblem]:
        validator = Draft202012Validator(
            self.configuration_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        problems = [p for error in validator.iter_errors(configuration) for p in _named(error)]
        return sorted(set(problems), key=lambda p: (p.field, p.message))

    def instantiate(
        self, name: str | None = None, configuration: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A fresh definition from the source with the configuration's values in it (after the
        schema's defaults), optionally renamed; a configuration the schema refuses raises
        `TemplateConfigurationError` naming every problem."""
        given: object = {} if configuration is None else configuration
        problems = self.configuration_problems(given)
        if problems:
            raise TemplateConfigurationError(self.key, problems)
        assert isinstance(given, Mapping)
        values = {**self._defaults(), **given}
        body: dict[str, Any] = _filled(self.source, values)
        if name:
            body["name"] = name
        return body

    def _defaults(self) -> dict[str, Any]:
        properties = self.configuration_schema.get("properties", {})
        return {
            key: copy.deepcopy(spec["default"])
            for key, spec in properties.items()
            if isinstance(spec, Mapping) and "default" in spec
        }


def _named(error: ValidationError) -> list[ConfigurationProblem]:
    """The fields one schema error is about: the missing or unexpected names themselves for
    `required` and `additionalProperties`, whose error jsonschema reports on the parent."""
    path = ".".join(str(part) for part in error.absolute_path)

    def under(name: object) -> str:
        return f"{path}.{name}" if path else str(name)

    instance = error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required" and isinstance(instance, Mapping):
        wanted = error.validator_value if isinstance(error.validator_value, list) else []
        return [
            ConfigurationProblem(under(name), "is required.")
            for name in wanted
            if name not in instance
        ]
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = set(schema.get("properties", {}))
        return [
            ConfigurationProblem(under(name), "is not a setting of this template.")
            for name in instance
            if name not in known
        ]
    if error.validator == "pattern" and isinstance(schema.get(PATTERN_PROBLEM), str):
        return [ConfigurationProblem(path, f"is {instance!r}; {schema[PATTERN_PROBLEM]}")]
    if error.validator == "pattern" and error.validator_value == NO_EXPRESSIONS:
        return [
            ConfigurationProblem(
                path, "may not hold '{{', '}}', '[[' or ']]': a configured value is data."
            )
        ]
    return [ConfigurationProblem(path, error.message)]


def _filled(value: Any, values: Mapping[str, Any]) -> Any:
    """A copy of `value` with the parameters filled (nothing of the source is shared)."""
    if isinstance(value, dict):
        return {key: _filled(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, values) for item in value]
    if not isinstance(value, str):
        return copy.deepcopy(value)
    whole = PLACEHOLDER.fullmatch(value)
    if whole is not None:
        return copy.deepcopy(values[whole.group(1)])
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), value)


def parameters(value: Any) -> set[str]:
    """The configuration names a source uses (every one must be required or have a default)."""
    if isinstance(value, dict):
        return set().union(*(parameters(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(parameters(item) for item in value))
    return set(PLACEHOLDER.findall(value)) if isinstance(value, str) else set()


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

ACCOUNT_PROVISIONING: dict[str, Any] = {
    "name": "Account Provisioning",
    "description": "Records the new account holder and opens their account in an external "
    "system, then activates it; when a later step fails (or the execution is cancelled) the "
    "account is deleted in that system and the record archived again (saga compensation).",
    "statuses": [
        {"id": "provisioning", "label": "Provisioning", "color": "blue"},
        {"id": "provisioned", "label": "Provisioned", "color": "green"},
    ],
    "steps": [
        {
            "id": "requested",
            "type": "trigger",
            "name": "Account Requested",
            "config": {"type": "manual"},
        },
        {
            "id": "provisioning",
            "type": "update_status",
            "name": "Provisioning",
            "config": {"status": "provisioning"},
        },
        {
            "id": "holder",
            "type": "create_contact",
            "name": "Record the Account Holder",
            "config": {
                "fields": {
                    "first_name": "{{input.first_name}}",
                    "last_name": "{{input.last_name}}",
                    "email": "{{input.email}}",
                    "status": "account_holder",
                    "fields.plan": "[[plan]]",
                    "fields.requested_by": "{{contact.id}}",
                }
            },
            "compensate": {
                "type": "archive_contact",
                "name": "Archive the Account Holder",
                "config": {
                    "contact_id": "{{holder.contact.id}}",
                    "reason": "provisioning of execution {{execution.id}} was undone",
                },
            },
        },
        {
            "id": "open_account",
            "type": "http_request",
            "name": "Open the Account",
            "config": {
                "method": "POST",
                "url": "[[system_url]]/accounts",
                "headers": {"Content-Type": "application/json"},
                "body": {
                    "email": "{{holder.contact.email}}",
                    "plan": "[[plan]]",
                    "reference": "{{execution.id}}",
                },
                "timeout_seconds": 30,
                "retries": 3,
            },
            "compensate": {
                "type": "http_request",
                "name": "Delete the Account",
                "config": {
                    "method": "DELETE",
                    "url": "[[system_url]]/accounts/{{open_account.body.id}}",
                    "timeout_seconds": 30,
                    "retries": 5,
                },
            },
        },
        {
            "id": "activate",
            "type": "http_request",
            "name": "Activate the Account",
            "config": {
                "method": "POST",
                "url": "[[system_url]]/accounts/{{open_account.body.id}}/activate",
                "timeout_seconds": 30,
                "retries": 3,
            },
        },
        {
            "id": "provisioned",
            "type": "update_status",
            "name": "Provisioned",
            "config": {"status": "provisioned"},
        },
        {
            "id": "notify",
            "type": "send_email",
            "name": "Notify",
            "config": {
                "to": "[[notification_email]]",
                "subject": "Account opened for {{holder.contact.email}}",
                "body": "Account {{open_account.body.id}} ([[plan]]) is active for "
                "{{holder.contact.first_name}} {{holder.contact.last_name}}.",
            },
        },
    ],
}

ACCOUNT_PROVISIONING_CONFIGURATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "system_url": {
            "type": "string",
            "description": "Base URL of the external account system (no trailing slash): "
            'POST {system_url}/accounts answers the account\'s {"id"}, POST '
            "{system_url}/accounts/{id}/activate activates it, DELETE {system_url}/accounts/{id} "
            "deletes it.",
            "pattern": r"^https?://[^\s{}\[\]]+[^/\s{}\[\]]$",
            PATTERN_PROBLEM: "it must be an http(s) URL without a trailing slash, spaces, "
            "braces or brackets.",
            "maxLength": 500,
        },
        "notification_email": {
            "type": "string",
            "format": "email",
            "pattern": NO_EXPRESSIONS,
            "maxLength": 320,
            "description": "Who is told when an account is open.",
        },
        "plan": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": NO_EXPRESSIONS,
            "default": "standard",
            "description": "The plan the account is opened on.",
        },
    },
    "required": ["system_url", "notification_email"],
    "additionalProperties": False,
}

INBOUND_TRIAGE: dict[str, Any] = {
    "name": "Inbound Form Triage",
    "description": "A language model reads each inbound form and classifies it as sales, "
    "support or other; the form becomes a task for the team that handles its kind.",
    "statuses": [
        {"id": "sales", "label": "Sales", "color": "green"},
        {"id": "support", "label": "Support", "color": "blue"},
        {"id": "other", "label": "Needs triage", "color": "amber"},
    ],
    "steps": [
        {
            "id": "received",
            "type": "trigger",
            "name": "Form Received",
            "config": {
                "type": "form_submission",
                "contact": {
                    "first_name": "{{payload.name}}",
                    "email": "{{payload.email}}",
                },
            },
        },
        {
            "id": "classify",
            "type": "llm",
            "name": "Classify the Message",
            "config": {
                "model": "[[model]]",
                "system": "You sort the messages a company receives through its website "
                'form. Answer with a JSON object {"category": "sales" | "support" | '
                '"other", "summary": "<one sentence>"}.',
                "prompt": "From {{payload.name}} <{{payload.email}}>:\n\n{{payload.message}}",
                "response_format": "json",
                "temperature": 0,
                "max_tokens": 200,
            },
        },
        {
            "id": "route",
            "type": "condition",
            "name": "Route by Category",
            "config": {
                "field": "{{classify.json.category}}",
                "branches": [
                    {"if": "sales", "then_goto": "mark_sales"},
                    {"if": "support", "then_goto": "mark_support"},
                ],
                "default": "mark_other",
            },
        },
        {
            "id": "mark_sales",
            "type": "update_status",
            "name": "Sales",
            "config": {"status": "sales"},
        },
        {
            "id": "sales_task",
            "type": "assign_task",
            "name": "Sales Follow-up",
            "config": {
                "title": "Follow up with {{contact.first_name}}",
                "description": "{{classify.json.summary}}",
                "assign_to": "role:[[sales_role]]",
                "priority": "high",
                "due_date": "{{now + [[response_days]] days}}",
                "metadata": {"category": "sales"},
            },
            "next": "end",
        },
        {
            "id": "mark_support",
            "type": "update_status",
            "name": "Support",
            "config": {"status": "support"},
        },
        {
            "id": "support_task",
            "type": "assign_task",
            "name": "Support Request",
            "config": {
                "title": "Help {{contact.first_name}}",
                "description": "{{classify.json.summary}}",
                "assign_to": "role:[[support_role]]",
                "priority": "medium",
                "due_date": "{{now + [[response_days]] days}}",
                "metadata": {"category": "support"},
            },
            "next": "end",
        },
        {
            "id": "mark_other",
            "type": "update_status",
            "name": "Needs Triage",
            "config": {"status": "other"},
        },
        {
            "id": "triage_task",
            "type": "assign_task",
            "name": "Triage by Hand",
            "config": {
                "title": "Triage the message from {{contact.first_name}}",
                "description": "{{payload.message}}",
                "assign_to": "role:[[triage_role]]",
                "priority": "low",
                "due_date": "{{now + [[response_days]] days}}",
            },
        },
    ],
}

_ROLE: dict[str, Any] = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_.:-]{1,64}$",
    PATTERN_PROBLEM: "a role is 1 to 64 letters, digits or '_', '.', ':', '-'.",
}

INBOUND_TRIAGE_CONFIGURATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": NO_EXPRESSIONS,
            "description": "The chat model of the deployment's LLM endpoint (LLM_BASE_URL).",
        },
        "sales_role": {**_ROLE, "default": "sales", "description": "Who follows up on sales."},
        "support_role": {**_ROLE, "default": "support", "description": "Who answers support."},
        "triage_role": {**_ROLE, "default": "admin", "description": "Who sorts the rest."},
        "response_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": 30,
            "default": 2,
            "description": "Days until a task is due.",
        },
    },
    "required": ["model"],
    "additionalProperties": False,
}

LEAD_SCORING: dict[str, Any] = {
    "name": "Lead Scoring",
    "description": "Rates each lead a webhook delivers by its company size and interests "
    "(a transform step), records the rating on the contact, and hands hot leads to sales "
    "with an email to the team.",
    "statuses": [
        {"id": "hot", "label": "Hot lead", "color": "red"},
        {"id": "nurture", "label": "Nurture", "color": "blue"},
    ],
    "steps": [
        {
            "id": "lead",
            "type": "trigger",
            "name": "Lead Received",
            "config": {
                "type": "webhook",
                "contact": {
                    "first_name": "{{payload.first_name}}",
                    "last_name": "{{payload.last_name}}",
                    "email": "{{payload.email}}",
                },
            },
        },
        {
            "id": "score",
            "type": "transform",
            "name": "Score the Lead",
            "config": {
                "expressions": {
                    "company": "payload.company || 'company not given'",
                    "employees": "to_number(payload.employees) || `0`",
                    "interests": "length(to_array(payload.interests || `[]`))",
                    "tier": "((to_number(payload.employees) || `0`) >= "
                    "`[[large_company_employees]]` || length(to_array(payload.interests || "
                    "`[]`)) >= `[[hot_interest_count]]`) && 'hot' || 'nurture'",
                }
            },
        },
        {
            "id": "record_score",
            "type": "update_contact",
            "name": "Record the Score",
            "config": {
                "fields": {
                    "fields.employees": "{{score.employees}}",
                    "fields.lead_tier": "{{score.tier}}",
                    "fields.company": "{{score.company}}",
                }
            },
        },
        {
            "id": "route",
            "type": "condition",
            "name": "Hot or Not",
            "config": {
                "field": "{{score.tier}}",
                "branches": [{"if": "hot", "then_goto": "hot"}],
                "default": "nurture",
            },
        },
        {
            "id": "hot",
            "type": "update_status",
            "name": "Hot Lead",
            "config": {"status": "hot"},
        },
        {
            "id": "call",
            "type": "assign_task",
            "name": "Call the Lead",
            "config": {
                "title": "Call {{contact.first_name}} {{contact.last_name}} ({{score.company}})",
                "assign_to": "role:[[sales_role]]",
                "priority": "high",
                "due_date": "{{now + 1 days}}",
                "metadata": {"employees": "{{score.employees}}"},
            },
        },
        {
            "id": "tell_sales",
            "type": "send_email",
            "name": "Tell Sales",
            "config": {
                "to": "[[notification_email]]",
                "subject": "Hot lead: {{contact.first_name}} {{contact.last_name}}",
                "body": "{{score.company}}, {{score.employees}} employees, "
                "interested in {{score.interests}} products.",
            },
            "next": "end",
        },
        {
            "id": "nurture",
            "type": "update_status",
            "name": "Nurture",
            "config": {"status": "nurture"},
        },
    ],
}

LEAD_SCORING_CONFIGURATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "notification_email": {
            "type": "string",
            "format": "email",
            "pattern": NO_EXPRESSIONS,
            "maxLength": 320,
            "description": "The sales team's address, told of every hot lead.",
        },
        "sales_role": {**_ROLE, "default": "sales", "description": "Who calls hot leads."},
        "large_company_employees": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10_000_000,
            "default": 500,
            "description": "A lead from a company this large is hot.",
        },
        "hot_interest_count": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1_000,
            "default": 3,
            "description": "A lead interested in this many products is hot.",
        },
    },
    "required": ["notification_email"],
    "additionalProperties": False,
}


def _review_branch(team: str, label: str) -> dict[str, Any]:
    """One reviewer's branch of the contract review: their task, then the wait for it (a
    reminder after each review period, twice, then the review times out)."""
    return {
        "name": team,
        "steps": [
            {
                "id": f"{team}_task",
                "type": "assign_task",
                "name": f"{label} Review",
                "config": {
                    "title": f"{label} review of the contract with "
                    "{{contact.first_name}} {{contact.last_name}}",
                    "description": "Set metadata.approved to true or false, then mark the "
                    "task done.",
                    "assign_to": f"role:[[{team}_role]]",
                    "priority": "high",
                    "due_date": "{{now + [[review_days]] days}}",
                },
            },
            {
                "id": f"{team}_wait",
                "type": "wait_for_task",
                "name": f"Wait for {label}",
                "config": {
                    "task_from_step": f"{team}_task",
                    "timeout_days": "[[review_days]]",
                    "on_timeout": "send_reminder",
                    "max_reminders": 2,
                },
            },
        ],
    }


CONTRACT_REVIEW: dict[str, Any] = {
    "name": "Contract Review",
    "description": "Legal and finance review a contract at the same time (a parallel step: "
    "both tasks open at once, the run goes on when both are done); approved when both "
    "approve, and the team is told either way.",
    "statuses": [
        {"id": "in_review", "label": "In review", "color": "blue"},
        {"id": "approved", "label": "Approved", "color": "green"},
        {"id": "rejected", "label": "Rejected", "color": "red"},
    ],
    "steps": [
        {
            "id": "requested",
            "type": "trigger",
            "name": "Review Requested",
            "config": {"type": "manual"},
        },
        {
            "id": "in_review",
            "type": "update_status",
            "name": "In Review",
            "config": {"status": "in_review"},
        },
        {
            "id": "reviews",
            "type": "parallel",
            "name": "Legal and Finance Reviews",
            "config": {
                "join": "all",
                "branches": [
                    _review_branch("legal", "Legal"),
                    _review_branch("finance", "Finance"),
                ],
            },
        },
        {
            "id": "verdict",
            "type": "transform",
            "name": "Both Approved?",
            "config": {
                "expressions": {
                    "approved": "legal_wait.task.metadata.approved == `true` && "
                    "finance_wait.task.metadata.approved == `true`",
                    "legal": "legal_wait.task.metadata.approved || `false`",
                    "finance": "finance_wait.task.metadata.approved || `false`",
                }
            },
        },
        {
            "id": "decide",
            "type": "condition",
            "name": "Approved or Rejected",
            "config": {
                "field": "{{verdict.approved}}",
                "branches": [{"if": True, "then_goto": "approved"}],
                "default": "rejected",
            },
        },
        {
            "id": "approved",
            "type": "update_status",
            "name": "Approved",
            "config": {"status": "approved"},
        },
        {
            "id": "tell_approved",
            "type": "send_email",
            "name": "Tell the Team: Approved",
            "config": {
                "to": "[[notification_email]]",
                "subject": "Contract with {{contact.first_name}} {{contact.last_name}} approved",
                "body": "Legal and finance both approved it.",
            },
            "next": "end",
        },
        {
            "id": "rejected",
            "type": "update_status",
            "name": "Rejected",
            "config": {"status": "rejected"},
        },
        {
            "id": "tell_rejected",
            "type": "send_email",
            "name": "Tell the Team: Rejected",
            "config": {
                "to": "[[notification_email]]",
                "subject": "Contract with {{contact.first_name}} {{contact.last_name}} rejected",
                "body": "Legal approved: {{verdict.legal}}. Finance approved: {{verdict.finance}}.",
            },
        },
    ],
}

CONTRACT_REVIEW_CONFIGURATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "notification_email": {
            "type": "string",
            "format": "email",
            "pattern": NO_EXPRESSIONS,
            "maxLength": 320,
            "description": "Who is told the outcome of each review.",
        },
        "legal_role": {**_ROLE, "default": "legal", "description": "Who reviews for legal."},
        "finance_role": {
            **_ROLE,
            "default": "finance",
            "description": "Who reviews for finance.",
        },
        "review_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": 30,
            "default": 3,
            "description": "Days each reviewer has, and between their reminders.",
        },
    },
    "required": ["notification_email"],
    "additionalProperties": False,
}

LIBRARY: tuple[DefinitionTemplate, ...] = (
    DefinitionTemplate(
        "applicant_onboarding",
        APPLICANT_ONBOARDING["name"],
        APPLICANT_ONBOARDING["description"],
        "recruiting",
        APPLICANT_ONBOARDING,
        tags=("form", "review", "email", "approval"),
    ),
    DefinitionTemplate(
        "employee_onboarding",
        EMPLOYEE_ONBOARDING["name"],
        EMPLOYEE_ONBOARDING["description"],
        "hr",
        EMPLOYEE_ONBOARDING,
        tags=("onboarding", "documents", "reminder", "email"),
    ),
    DefinitionTemplate(
        "background_check",
        BACKGROUND_CHECK["name"],
        BACKGROUND_CHECK["description"],
        "compliance",
        BACKGROUND_CHECK,
        tags=("webhook", "http", "signal", "review"),
    ),
    DefinitionTemplate(
        "account_provisioning",
        ACCOUNT_PROVISIONING["name"],
        ACCOUNT_PROVISIONING["description"],
        "operations",
        ACCOUNT_PROVISIONING,
        tags=("saga", "compensation", "http", "provisioning", "record"),
        configuration_schema=ACCOUNT_PROVISIONING_CONFIGURATION,
        example={
            "system_url": "https://accounts.example.com/api",
            "notification_email": "it@example.com",
        },
    ),
    DefinitionTemplate(
        "inbound_triage",
        INBOUND_TRIAGE["name"],
        INBOUND_TRIAGE["description"],
        "customer_support",
        INBOUND_TRIAGE,
        tags=("llm", "triage", "form", "routing"),
        configuration_schema=INBOUND_TRIAGE_CONFIGURATION,
        example={"model": "gpt-4o-mini"},
    ),
    DefinitionTemplate(
        "lead_scoring",
        LEAD_SCORING["name"],
        LEAD_SCORING["description"],
        "sales",
        LEAD_SCORING,
        tags=("transform", "scoring", "webhook", "email"),
        configuration_schema=LEAD_SCORING_CONFIGURATION,
        example={"notification_email": "sales@example.com"},
    ),
    DefinitionTemplate(
        "contract_review",
        CONTRACT_REVIEW["name"],
        CONTRACT_REVIEW["description"],
        "legal",
        CONTRACT_REVIEW,
        tags=("parallel", "review", "approval", "email"),
        configuration_schema=CONTRACT_REVIEW_CONFIGURATION,
        example={"notification_email": "contracts@example.com"},
    ),
)

CATEGORIES: tuple[str, ...] = tuple(sorted({t.category for t in LIBRARY}))


def template_named(key: str) -> DefinitionTemplate | None:
    return next((t for t in LIBRARY if t.key == key), None)


def templates_matching(
    category: str | None = None, tags: tuple[str, ...] = ()
) -> list[DefinitionTemplate]:
    """The library's templates of `category` (when given) carrying every one of `tags`."""
    return [
        t
        for t in LIBRARY
        if (category is None or t.category == category) and set(tags) <= set(t.tags)
    ]
