"""Activities of the execution interpreter: thin adapters from a typed call to a service command.

Each implements one method of ``worker.step_calls.EngineActivities`` (the workflow calls them by
that reference): typed input in, one service call, typed output back. The log context and the
mapping of domain refusals to non-retryable errors happen once for every activity, in
``worker.interceptors``. Plain ``def`` methods on the worker's thread pool (the services use a
blocking driver). Each call costs one save: the services record the step, the steps finished
before it (`before`) and its effect together (application/services/execution_steps.py). Command
ids come from the workflow's own keys (``keyed_context``), so retries and replays append nothing
twice.

Outbound effects happen before their record, and a retried call first checks whether its record
exists, so an email is sent again only if the worker died between sending and recording (the
Message-ID, derived from the command, is the same both times, for receivers that deduplicate).
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from application.bundle import Services
from application.delivery import http
from application.delivery.email import OutgoingEmail, SmtpMailer
from application.errors import NotFoundError
from application.metadata import CommandContext
from application.services import ContactDraft, TaskDraft
from application.services.execution_steps import contact_view
from domain.errors import DomainError, InvalidValueError
from worker.activities.context import keyed_context
from worker.step_calls import (
    HTTP_CLIENT_ERROR,
    HTTP_SERVER_ERROR,
    HTTP_TRANSPORT_ERROR,
    AssignTaskStep,
    BeginExecution,
    BeginResult,
    CompleteTaskStep,
    EngineActivities,
    FinishExecution,
    HttpRequestStep,
    RecordStep,
    SendEmailStep,
    SendReminder,
    SetDueDateStep,
    StepResult,
    UpdateContactStep,
    UpdateStatusStep,
    UpdateTaskStep,
)

CONTACT_TEXT_FIELDS = ("first_name", "last_name", "email", "phone", "status")
# Retrying these may help (the server is busy or asks to come back); other 4xx will not.
RETRYABLE_CLIENT_STATUSES = (408, 429)
REMINDER_EMAIL_ATTEMPTS = 5


def _uuid(kind: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFoundError(kind, value) from None


def contact_changes(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A definition's contact mapping (`first_name`, `fields.company`, …) as contact changes.

    Scalars rendered from templates arrive as native values (a phone number as an int); contact
    fields are text, so they are turned into text here.
    """
    changes: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for key, value in mapping.items():
        if key.startswith("fields."):
            fields[key[len("fields.") :]] = value
        elif key == "fields" and isinstance(value, Mapping):
            fields.update(value)
        elif key in CONTACT_TEXT_FIELDS:
            changes[key] = None if value is None else str(value)
        else:
            raise InvalidValueError(f"{key!r} is not a contact field", field=key)
    if fields:
        changes["fields"] = fields
    return changes


def _message_id(command_id: str) -> str:
    return f"<{uuid5(NAMESPACE_URL, command_id)}@bytedash>"


class ExecutionActivities(EngineActivities):
    """Holds the injected services and delivery adapters; each method is one activity.

    `mailer` is None when SMTP_URL is not configured: emails are then recorded as not delivered.
    """

    def __init__(
        self,
        services: Services,
        *,
        mailer: SmtpMailer | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._services = services
        self._mailer = mailer
        self._http = http_client

    # -- lifecycle -------------------------------------------------------------------------

    @activity.defn
    def begin_execution(self, call: BeginExecution) -> BeginResult:
        """Create the contact when asked to, then create and start the execution.

        A contact that cannot be found or created fails the execution at its trigger step,
        recorded, instead of failing the activity: retrying would not make it appear. A call
        with an `error` (the execution could not be recorded as asked) touches no contact and
        records the execution failed at once.
        """
        ctx = keyed_context(call.meta, call.command_key)
        execution_id = _uuid("execution", call.execution_id)
        contacts = self._services.contacts
        if call.error is not None and self._services.executions.already_recorded(ctx):
            # An attempt given up on went through after all: what it recorded stands.
            return self._begun(ctx, execution_id)
        contact_id = call.contact_id
        contact: dict[str, Any] = {}
        failure: str | None = call.error
        try:
            if failure is None and contact_id is not None:
                contact = contact_view(contacts.get_contact(ctx, _uuid("contact", contact_id)))
            elif failure is None and call.contact:
                contact_ctx = keyed_context(call.meta, f"{call.command_key}/contact")
                draft = ContactDraft(**contact_changes(call.contact))
                created = contacts.create_contact(contact_ctx, draft)
                contact_id = str(created)
                contact = contact_view(contacts.get_contact(contact_ctx, created))
        except (DomainError, NotFoundError) as error:
            failure = f"The execution's contact could not be used: {error.message}"
        info = activity.info()
        self._services.executions.begin(
            ctx,
            execution_id,
            definition_id=call.definition_id,
            definition_version=call.definition_version,
            workflow_id=str(info.workflow_id),
            workflow_run_id=str(info.workflow_run_id),
            contact_id=contact_id,
            input=call.input,
            trigger=call.trigger,
            trigger_step=call.trigger_step,
            trigger_output={**call.trigger_output, "contact_id": contact_id},
            failure=failure,
        )
        return BeginResult(contact_id=contact_id, contact=contact, error=failure)

    def _begun(self, ctx: CommandContext, execution_id: UUID) -> BeginResult:
        """The begin as recorded: the execution's contact, and its error if it failed."""
        execution = self._services.executions.get_execution(ctx, execution_id)
        contact_id = execution.contact_id
        contact: dict[str, Any] = {}
        if contact_id is not None:
            found = self._services.contacts.get_contact(ctx, _uuid("contact", contact_id))
            contact = contact_view(found)
        error = execution.error if execution.status == "failed" else None
        return BeginResult(contact_id=contact_id, contact=contact, error=error)

    @activity.defn
    def finish_execution(self, call: FinishExecution) -> StepResult:
        ctx = keyed_context(call.meta, call.command_key)
        self._services.executions.finish(
            ctx,
            _uuid("execution", call.execution_id),
            call.outcome,
            step=call.step,
            error=call.error,
            cancelled_by=call.cancelled_by,
            output=call.output,
            cancel_task_ids=[_uuid("task", task_id) for task_id in call.cancel_task_ids],
            before=call.before,
        )
        return StepResult()

    # -- steps that only record ----------------------------------------------------------------

    @activity.defn
    def record_step(self, call: RecordStep) -> StepResult:
        output = self._services.executions.record_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            wait=call.wait,
            output=call.output,
            error=call.error,
            before=call.before,
        )
        return StepResult(output=output or {})

    @activity.defn
    def update_status_step(self, call: UpdateStatusStep) -> StepResult:
        output = self._services.executions.update_status_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            call.ui_status,
            call.before,
        )
        return StepResult(output=output)

    # -- steps on tasks and contacts -------------------------------------------------------

    @activity.defn
    def assign_task_step(self, call: AssignTaskStep) -> StepResult:
        draft = TaskDraft(
            title=call.title,
            assigned_to=call.assigned_to,
            description=call.description,
            priority=call.priority,
            due_date=call.due_date,
            contact_id=call.contact_id,
            metadata=dict(call.metadata),
        )
        output = self._services.executions.assign_task_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            draft,
            call.before,
        )
        return StepResult(output=output)

    @activity.defn
    def update_task_step(self, call: UpdateTaskStep) -> StepResult:
        changes = dict(call.changes)
        if call.sets_due_date:
            changes["due_date"] = call.due_date
        output = self._services.executions.update_task_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            _uuid("task", call.task_id),
            changes,
            call.before,
        )
        return StepResult(output=output)

    @activity.defn
    def complete_task_step(self, call: CompleteTaskStep) -> StepResult:
        output = self._services.executions.complete_task_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            _uuid("task", call.task_id),
            call.metadata,
            call.before,
        )
        return StepResult(output=output)

    @activity.defn
    def set_due_date_step(self, call: SetDueDateStep) -> StepResult:
        output = self._services.executions.set_due_date_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            call.due_date,
            None if call.task_id is None else _uuid("task", call.task_id),
            call.before,
        )
        return StepResult(output=output)

    @activity.defn
    def update_contact_step(self, call: UpdateContactStep) -> StepResult:
        output = self._services.executions.update_contact_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            _uuid("contact", call.contact_id),
            contact_changes(call.changes),
            call.before,
        )
        return StepResult(output=output)

    # -- steps that reach outside ------------------------------------------------------------

    @activity.defn
    def send_email_step(self, call: SendEmailStep) -> StepResult:
        """Send, then record `EmailSent` and complete the step.

        Undeliverable mail is retried (by raising) until `max_attempts`, then recorded as not
        delivered with the error; without SMTP it is recorded as not delivered at once. Either
        way the step completes: the event says what happened, and an email is not a reason to
        abandon a person's process.
        """
        executions = self._services.executions
        ctx = keyed_context(call.meta, call.command_key)
        execution_id = _uuid("execution", call.execution_id)
        step = call.step
        if executions.already_recorded(ctx):
            return StepResult(output=executions.step_output(ctx, execution_id, step.id) or {})
        message_id = _message_id(ctx.command_id)
        email = OutgoingEmail(
            to=call.to,
            cc=call.cc,
            sender=call.sender,
            subject=call.subject,
            body=call.body,
            message_id=message_id,
        )
        delivered, error = self._deliver(email, call.max_attempts)
        output = {
            "to": call.to,
            "cc": call.cc,
            "subject": call.subject,
            "delivered": delivered,
            "message_id": message_id if delivered else None,
            "error": error,
        }
        recorded = executions.email_step(
            ctx,
            execution_id,
            step,
            to=call.to + call.cc,
            subject=call.subject,
            delivered=delivered,
            message_id=message_id if delivered else None,
            error=error,
            output=output,
        )
        return StepResult(output=recorded)

    def _deliver(self, email: OutgoingEmail, max_attempts: int) -> tuple[bool, str | None]:
        if self._mailer is None:
            return False, None
        try:
            self._mailer.send(email)
        except (smtplib.SMTPException, OSError) as error:
            text = f"{type(error).__name__}: {error}"
            if activity.info().attempt < max_attempts:
                raise ApplicationError(f"SMTP delivery failed: {text}", type="SmtpError") from None
            return False, text
        return True, None

    @activity.defn
    def http_request_step(self, call: HttpRequestStep) -> StepResult:
        """One attempt of the call, recorded as `HttpRequestMade` whatever its outcome.

        A success completes the step with `{status, body, headers}`; a 4xx raises a
        non-retryable `HttpClientError`; a 5xx, 408, 429 or no answer raises a retryable error,
        so the activity's retry policy (from the step's `retries`) backs off and tries again.
        """
        attempt = activity.info().attempt
        ctx = keyed_context(call.meta, f"{call.command_key}/attempt-{attempt}")
        execution_id = _uuid("execution", call.execution_id)
        method = call.method.upper()

        def record(
            status: int | None, duration_ms: float, error: str | None, output: dict[str, Any] | None
        ) -> dict[str, Any] | None:
            return self._services.executions.http_attempt(
                ctx,
                execution_id,
                call.step,
                method=method,
                url=call.url,
                status_code=status,
                duration_ms=duration_ms,
                error=error,
                output=output,
            )

        try:
            answer = self._call(call, method)
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
            record(None, 0.0, error, None)
            raise ApplicationError(
                f"{method} {call.url} got no answer ({error})", type=HTTP_TRANSPORT_ERROR
            ) from None
        if answer.status >= 400:
            record(answer.status, answer.duration_ms, f"HTTP {answer.status}", None)
            client_error = answer.status < 500 and answer.status not in (RETRYABLE_CLIENT_STATUSES)
            raise ApplicationError(
                f"{method} {call.url} answered {answer.status}",
                answer.as_output(),
                type=HTTP_CLIENT_ERROR if client_error else HTTP_SERVER_ERROR,
                non_retryable=client_error,
            )
        output = answer.as_output()
        recorded = record(answer.status, answer.duration_ms, None, output)
        return StepResult(output=recorded or output)

    def _call(self, call: HttpRequestStep, method: str) -> http.HttpAnswer:
        """One request; a client of its own unless one was injected (outbound calls are rare,
        and a fresh connection never carries another call's state)."""
        options: dict[str, Any] = {
            "method": method,
            "url": call.url,
            "headers": call.headers,
            "body": call.body,
            "timeout_seconds": call.timeout_seconds,
        }
        if self._http is not None:
            return http.call(self._http, **options)
        with httpx.Client(follow_redirects=False) as client:
            return http.call(client, **options)

    @activity.defn
    def send_reminder(self, call: SendReminder) -> None:
        """Record `ReminderSent` (emailing `email_to` first when given and SMTP is set up)."""
        executions = self._services.executions
        ctx = keyed_context(call.meta, call.command_key)
        if executions.already_recorded(ctx):
            return
        if call.email_to:
            self._deliver(
                OutgoingEmail(
                    to=call.email_to,
                    subject=call.subject or "Reminder",
                    body=call.message,
                    message_id=_message_id(ctx.command_id),
                ),
                REMINDER_EMAIL_ATTEMPTS,
            )
        executions.remind(
            ctx,
            _uuid("execution", call.execution_id),
            step_id=call.step_id,
            task_id=call.task_id,
            recipient=call.recipient,
            count=call.count,
            message=call.message,
            wait_again=call.wait_again,
        )

    def all(self) -> list[Any]:
        """Every activity of the interpreter, for the worker to register: each method that
        `EngineActivities` declares, so that none the workflow may call is left out."""
        return [getattr(self, name) for name in sorted(EngineActivities.__abstractmethods__)]
