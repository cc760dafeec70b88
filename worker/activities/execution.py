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
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from application.bundle import Services
from application.delivery import http, llm
from application.delivery.email import OutgoingEmail, SmtpMailer
from application.delivery.outbound import OutboundPolicy, OutboundRefusedError
from application.delivery.secret_refs import MissingSecretError, referenced, scrub, substitute
from application.errors import NotFoundError
from application.metadata import CommandContext
from application.secrets import SecretStore, SecretStoreError
from application.services import ContactDraft, TaskDraft
from application.services.execution_steps import contact_view
from domain.errors import DomainError, InvalidValueError
from domain.steps.llm import cost
from worker.activities.context import keyed_context
from worker.contracts import TaskRef
from worker.secret_values import remember
from worker.step_calls import (
    HTTP_CLIENT_ERROR,
    HTTP_SERVER_ERROR,
    HTTP_TRANSPORT_ERROR,
    LLM_ANSWER_ERROR,
    LLM_NOT_CONFIGURED,
    ArchiveContactStep,
    AssignTaskStep,
    BeginCompensation,
    BeginExecution,
    BeginResult,
    CancelSteps,
    CompleteTaskStep,
    CreateContactStep,
    EndCompensation,
    EngineActivities,
    FinishExecution,
    HttpRequestStep,
    LlmStep,
    LoopSoFar,
    MigrateExecution,
    ParkStep,
    RecordStep,
    ResolveParkedStep,
    ResumeExecution,
    ResumeResult,
    SendEmailStep,
    SendReminder,
    SetDueDateStep,
    StartCompensationStep,
    StepResult,
    UpdateContactStep,
    UpdateStatusStep,
    UpdateTaskStep,
)

CONTACT_TEXT_FIELDS = ("first_name", "last_name", "email", "phone", "status")
# Retrying these may help (the server is busy or asks to come back); other 4xx will not.
RETRYABLE_CLIENT_STATUSES = (408, 429)
REMINDER_EMAIL_ATTEMPTS = 5
# The longest Retry-After an llm step waits before its next attempt.
MAX_RETRY_AFTER_SECONDS = 60.0
# ApplicationError type of a call that cannot be made with the secrets it references (one not
# set, a store that cannot decrypt): never retried, the step fails naming it.
SECRET_UNAVAILABLE = "SecretUnavailable"
# ApplicationError type of a call whose destination the outbound policy refuses (a private,
# loopback or metadata address not in OUTBOUND_ALLOW): never retried.
OUTBOUND_REFUSED = "OutboundRefused"


def loop_so_far(history: list[dict[str, Any]], loop_id: str) -> LoopSoFar | None:
    """The iterations of the for_each `loop_id` that completed before the execution failed
    (or timed out) in it, read from the timeline; None when it did not fail in that loop (it
    completed, and a later step failed: a retry from it runs it again) or no iteration began.

    Iterations run one after the other, so the one the loop stopped in is that of its last
    entry that did not complete; the ones before it completed (in this attempt or, resumed
    before, an earlier one: the latest completed entry of each step counts)."""
    own = [
        entry
        for entry in history
        if entry["step_id"] == loop_id and "within" not in entry and entry["status"] != "retried"
    ]
    if not own or own[-1]["status"] == "completed":
        return None
    inner = [entry for entry in history if (entry.get("within") or {}).get("step_id") == loop_id]
    if not inner:
        return None
    unfinished = [entry for entry in inner if entry["status"] != "completed"]
    stopped_in = (
        int(unfinished[-1]["within"]["iteration"])
        if unfinished
        else 1 + max(int(entry["within"]["iteration"]) for entry in inner)
    )
    outputs: list[dict[str, Any]] = [{} for _ in range(stopped_in)]
    items: dict[int, Any] = {}
    for entry in inner:
        iteration = int(entry["within"]["iteration"])
        if iteration <= stopped_in and "item" in entry["within"]:
            items[iteration] = entry["within"]["item"]
        if iteration < stopped_in and entry["status"] == "completed":
            outputs[iteration][entry["step_id"]] = entry["output"] or {}
    return LoopSoFar(step_id=loop_id, outputs=outputs, items=items)


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
    `llm_endpoint` is None when LLM_BASE_URL is not: an llm step then fails (the API refuses
    definitions holding one in that case, so this only meets executions started before).
    `secrets` is the secret store `{{secrets.NAME}}` references in outbound calls resolve
    from (application/delivery/secret_refs.py); without it such a call fails.
    `outbound` says where `http_request` and `llm` calls may go (OUTBOUND_ALLOW; default:
    public addresses only, application/delivery/outbound.py). An injected `http_client`
    (dry runs, whose transport answers from a script) is used as it is.
    """

    def __init__(
        self,
        services: Services,
        *,
        mailer: SmtpMailer | None = None,
        http_client: httpx.Client | None = None,
        llm_endpoint: llm.LlmEndpoint | None = None,
        secrets: SecretStore | None = None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self._services = services
        self._mailer = mailer
        self._http = http_client
        self._llm = llm_endpoint
        self._secrets = secrets
        self._outbound = OutboundPolicy() if outbound is None else outbound

    def _secret_values(self, org_id: str, *values: Any) -> dict[str, str]:
        """The values of the secrets these call fields reference, read just before the call;
        a missing one (deleted since the definition was published) or a store that cannot
        decrypt fails the step at once, naming it."""
        names = referenced(*values)
        if not names:
            return {}
        try:
            if self._secrets is None:
                raise SecretStoreError("this worker has no secret store")
            found = self._secrets.values(org_id, names)
            missing = sorted(names - set(found))
            if missing:
                raise MissingSecretError(missing)
        except (MissingSecretError, SecretStoreError) as error:
            raise ApplicationError(
                f"The call cannot be made: {error}.", type=SECRET_UNAVAILABLE, non_retryable=True
            ) from None
        remember(found.values())  # masked in this process's log lines (interfaces/log_masks.py)
        return found

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

    @activity.defn
    def resume_execution(self, call: ResumeExecution) -> ResumeResult:
        """Record the retry (refused unless the execution failed or timed out), then answer
        what the new run takes up, read from the store: the state the execution is in now."""
        ctx = keyed_context(call.meta, call.command_key)
        execution_id = _uuid("execution", call.execution_id)
        executions = self._services.executions
        executions.retry_execution(
            ctx,
            execution_id,
            call.step,
            requested_by=call.requested_by,
            reason=call.reason,
            workflow_run_id=call.workflow_run_id,
        )
        execution = executions.get_execution(ctx, execution_id)
        contact: dict[str, Any] = {}
        if execution.contact_id is not None:
            found = self._services.contacts.get_contact(ctx, _uuid("contact", execution.contact_id))
            contact = contact_view(found)
        tasks: list[TaskRef] = []
        completed: list[str] = []
        for entry in execution.step_history:
            if entry["status"] != "completed" or entry.get("compensation_of") is not None:
                continue
            completed.append(entry["step_id"])
            task = (entry.get("output") or {}).get("task")
            if entry["step_type"] != "assign_task" or not isinstance(task, dict):
                continue
            try:
                now = self._services.tasks.get_task(ctx, _uuid("task", str(task.get("id"))))
            except NotFoundError:
                continue
            tasks.append(
                TaskRef(
                    task_id=str(now.id),
                    step_id=entry["step_id"],
                    status=now.status,
                    title=now.title,
                    assigned_to=now.assigned_to,
                    metadata=now.metadata,
                    completed_at=None if now.completed_at is None else now.completed_at.isoformat(),
                    version=now.version,
                    assigned=True,
                )
            )
        return ResumeResult(
            attempt=execution.retries,
            contact_id=execution.contact_id,
            contact=contact,
            ui_status=execution.ui_status,
            outputs=execution.step_outputs,
            tasks=tasks,
            reminder_counts=execution.reminders_sent,
            completed=completed,
            loop=(
                loop_so_far(execution.step_history, call.step.id)
                if call.step.type == "for_each"
                else None
            ),
        )

    @activity.defn
    def migrate_execution(self, call: MigrateExecution) -> StepResult:
        self._services.executions.migrate_execution(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            to_step=call.to_step,
            definition_version=call.definition_version,
            step_mapping=call.step_mapping,
            requested_by=call.requested_by,
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

    @activity.defn
    def create_contact_step(self, call: CreateContactStep) -> StepResult:
        changes = {k: v for k, v in contact_changes(call.fields).items() if v is not None}
        output = self._services.executions.create_contact_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            ContactDraft(**changes),
            call.before,
        )
        return StepResult(output=output)

    @activity.defn
    def archive_contact_step(self, call: ArchiveContactStep) -> StepResult:
        output = self._services.executions.archive_contact_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            _uuid("contact", call.contact_id),
            call.reason,
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
        secrets = self._secret_values(call.meta.org_id, call.url, call.headers, call.body)

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

        answer = _sent(
            lambda: self._call(call, method, secrets),
            record,
            secrets,
            not_sent=f"{method} {call.url} was not sent",
            no_answer=f"{method} {call.url} got no answer",
        )
        output = scrub(answer.as_output(), secrets)
        if answer.status >= 400:
            record(answer.status, answer.duration_ms, f"HTTP {answer.status}", None)
            client_error = answer.status < 500 and answer.status not in (RETRYABLE_CLIENT_STATUSES)
            raise ApplicationError(
                f"{method} {call.url} answered {answer.status}",
                output,
                type=HTTP_CLIENT_ERROR if client_error else HTTP_SERVER_ERROR,
                non_retryable=client_error,
            )
        recorded = record(answer.status, answer.duration_ms, None, output)
        return StepResult(output=recorded or output)

    def _call(
        self, call: HttpRequestStep, method: str, secrets: Mapping[str, str]
    ) -> http.HttpAnswer:
        """One request, its secret references replaced by their values; a client of its own
        unless one was injected (outbound calls are rare, and a fresh connection never carries
        another call's state)."""
        options: dict[str, Any] = {
            "method": method,
            "url": substitute(call.url, secrets),
            "headers": substitute(call.headers, secrets),
            "body": substitute(call.body, secrets),
            "timeout_seconds": call.timeout_seconds,
            "private_headers": [k for k, v in call.headers.items() if referenced(v)],
        }
        if self._http is not None:
            return http.call(self._http, **options)
        with self._outbound.client() as client:
            return http.call(client, **options)

    @activity.defn
    def llm_step(self, call: LlmStep) -> StepResult:
        """One attempt of a chat completion, recorded as `HttpRequestMade` (POST, the endpoint's
        URL, status, duration) whatever its outcome, like an http_request step's.

        A completion completes the step with its text, parsed JSON, tokens, latency and cost; a
        4xx raises a non-retryable `HttpClientError`; 429, 408, 5xx or no answer a retryable
        error (after Retry-After, when the endpoint says), so the step's retry policy backs off
        and tries again; an answer that is no completion, or not the JSON asked for, fails it.
        """
        endpoint = self._llm
        if endpoint is None:
            raise ApplicationError(
                "LLM_BASE_URL is not set for the worker, so llm steps cannot run.",
                type=LLM_NOT_CONFIGURED,
                non_retryable=True,
            )
        attempt = activity.info().attempt
        ctx = keyed_context(call.meta, f"{call.command_key}/attempt-{attempt}")
        execution_id = _uuid("execution", call.execution_id)
        url = endpoint.completions_url
        secrets = self._secret_values(call.meta.org_id, call.model, call.messages)

        def record(
            status: int | None, duration_ms: float, error: str | None, output: dict[str, Any] | None
        ) -> dict[str, Any] | None:
            return self._services.executions.http_attempt(
                ctx,
                execution_id,
                call.step,
                method="POST",
                url=url,
                status_code=status,
                duration_ms=duration_ms,
                error=error,
                output=output,
            )

        answer = _sent(
            lambda: self._chat(endpoint, call, secrets),
            record,
            secrets,
            not_sent="the LLM endpoint was not called",
            no_answer="the LLM endpoint got no answer",
        )
        if answer.status >= 400:
            said = scrub(llm.error_message(answer.body), secrets)
            why = f"the LLM endpoint answered {answer.status}" + (f": {said}" if said else "")
            record(answer.status, answer.duration_ms, why, None)
            client_error = answer.status < 500 and answer.status not in RETRYABLE_CLIENT_STATUSES
            wait = None if client_error else llm.retry_after(answer.headers)
            raise ApplicationError(
                why,
                type=HTTP_CLIENT_ERROR if client_error else HTTP_SERVER_ERROR,
                non_retryable=client_error,
                next_retry_delay=(
                    None if wait is None else timedelta(seconds=min(wait, MAX_RETRY_AFTER_SECONDS))
                ),
            )
        try:
            done = llm.completion(answer.body, json_output=call.json_output)
        except llm.AnswerError as problem:
            said = scrub(str(problem), secrets)
            record(answer.status, answer.duration_ms, said, None)
            raise ApplicationError(said, type=LLM_ANSWER_ERROR, non_retryable=True) from None
        output = {
            "model": done.model or call.model,
            "content": done.content,
            "json": done.parsed,
            "finish_reason": done.finish_reason,
            "usage": {
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "total_tokens": done.total_tokens,
            },
            "latency_ms": round(answer.duration_ms, 1),
            "cost": cost(
                call.price_per_1k_input_tokens,
                call.price_per_1k_output_tokens,
                done.prompt_tokens,
                done.completion_tokens,
            ),
            "attempts": attempt,
        }
        output = scrub(output, secrets)
        recorded = record(answer.status, answer.duration_ms, None, output)
        return StepResult(output=recorded or output)

    def _chat(
        self, endpoint: llm.LlmEndpoint, call: LlmStep, secrets: Mapping[str, str]
    ) -> http.HttpAnswer:
        options: dict[str, Any] = {
            "model": substitute(call.model, secrets),
            "messages": substitute(call.messages, secrets),
            "json_output": call.json_output,
            "temperature": call.temperature,
            "max_tokens": call.max_tokens,
            "timeout_seconds": call.timeout_seconds,
        }
        if self._http is not None:
            return llm.chat(self._http, endpoint, **options)
        with self._outbound.client() as client:
            return llm.chat(client, endpoint, **options)

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

    # -- saga compensation -----------------------------------------------------------------

    @activity.defn
    def begin_compensation(self, call: BeginCompensation) -> StepResult:
        self._services.executions.begin_compensation(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            cause=call.cause,
            step=call.step,
            reason=call.error,
            cancelled_by=call.cancelled_by,
            before=call.before,
        )
        return StepResult()

    @activity.defn
    def start_compensation_step(self, call: StartCompensationStep) -> StepResult:
        self._services.executions.start_compensation_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            compensation_of=call.compensation_of,
            before=call.before,
        )
        return StepResult()

    @activity.defn
    def end_compensation(self, call: EndCompensation) -> StepResult:
        self._services.executions.end_compensation(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            failures=call.failures,
            cancel_task_ids=[_uuid("task", task_id) for task_id in call.cancel_task_ids],
            before=call.before,
        )
        return StepResult()

    # -- parked steps ----------------------------------------------------------------------

    @activity.defn
    def cancel_steps(self, call: CancelSteps) -> StepResult:
        self._services.executions.cancel_steps(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.steps,
            reason=call.reason,
            cancel_task_ids=[_uuid("task", task_id) for task_id in call.cancel_task_ids],
            failed=call.failed,
            error=call.error,
            before=call.before,
        )
        return StepResult()

    @activity.defn
    def park_step(self, call: ParkStep) -> StepResult:
        self._services.executions.park_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            error=call.error,
            before=call.before,
        )
        return StepResult()

    @activity.defn
    def resolve_parked_step(self, call: ResolveParkedStep) -> StepResult:
        self._services.executions.resolve_parked_step(
            keyed_context(call.meta, call.command_key),
            _uuid("execution", call.execution_id),
            call.step,
            action=call.action,
            requested_by=call.requested_by,
            reason=call.reason,
        )
        return StepResult()

    def all(self) -> list[Any]:
        """Every activity of the interpreter, for the worker to register: each method that
        `EngineActivities` declares, so that none the workflow may call is left out."""
        return [getattr(self, name) for name in sorted(EngineActivities.__abstractmethods__)]


Answer = TypeVar("Answer")
RecordAttempt = Callable[[int | None, float, str | None, dict[str, Any] | None], object]


def _sent(
    send: Callable[[], Answer],
    record: RecordAttempt,
    secrets: Mapping[str, str],
    *,
    not_sent: str,
    no_answer: str,
) -> Answer:
    """`send`'s answer; a call the outbound policy refused (not retried) or that got no answer
    (retried) is recorded as an attempt first, with secret values scrubbed from the error."""
    try:
        return send()
    except OutboundRefusedError as refused:
        record(None, 0.0, f"refused: {refused.reason}", None)
        raise ApplicationError(
            f"{not_sent}: {refused.reason}", type=OUTBOUND_REFUSED, non_retryable=True
        ) from None
    except httpx.HTTPError as failure:
        error = scrub(f"{type(failure).__name__}: {failure}", secrets)
        record(None, 0.0, error, None)
        raise ApplicationError(f"{no_answer} ({error})", type=HTTP_TRANSPORT_ERROR) from None
