// One execution: its facts (definition and version, status, ui_status, current step, contact),
// its step timeline (each run of each step with status, times, output, error, what it waits
// for, reminders, emails and HTTP calls), its tasks, and the actions the caller's role allows:
// signal and cancel while it is open, retry when it failed or timed out (members and above),
// retry or skip a parked step (admins and owners). The API refuses the same actions to the same
// roles; the page only spares people buttons that would answer 403. Read again every 2 s while
// the execution is open.

import { get, post } from "../api.js";
import { badge, busy, duration, field, h, json, link, poll, problemBox, replace, select, table, time, toast, until } from "../ui.js";
import { contactName } from "./executions.js";

export const title = "Execution";

const OPEN = ["pending", "running", "waiting", "compensating", "needs_attention"];
const RETRYABLE = ["failed", "timed_out"];

function timelineEntry(step, execution, index) {
  const current = step.step_id === execution.current_step_id && OPEN.includes(execution.status)
    && ["running", "waiting", "needs_attention"].includes(step.status);
  const facts = [];
  if (step.waiting_for) {
    const waiting = step.status === "waiting";
    const detail = step.detail ? (typeof step.detail === "string" ? step.detail : Object.entries(step.detail).map(([k, v]) => `${k} ${v}`).join(", ")) : "";
    facts.push(h("li", { class: "wait" }, `${waiting ? "Waiting" : "Waited"} for ${step.waiting_for}`, detail ? ` (${detail})` : "",
      step.until ? [waiting ? ", at most until " : ", deadline was ", time(step.until)] : null));
  }
  if (step.within) facts.push(h("li", {}, "Inside ", h("span", { class: "code" }, step.within.step_id),
    step.within.branch ? `, branch ${step.within.branch}` : "", step.within.iteration !== undefined ? `, iteration ${step.within.iteration}` : ""));
  if (step.compensation_of) facts.push(h("li", {}, "Undoes ", h("span", { class: "code" }, step.compensation_of)));
  for (const reminder of step.reminders || []) facts.push(h("li", { class: "reminder" }, `Reminder ${reminder.count ?? ""} sent`, reminder.recipient ? ` to ${reminder.recipient}` : "", reminder.message ? `: ${reminder.message}` : "", reminder.occurred_at ? [" at ", time(reminder.occurred_at)] : null));
  for (const email of step.emails || []) facts.push(h("li", {}, `Email “${email.subject}” to ${email.to}: `, email.delivered ? "delivered" : `not delivered${email.error ? ` (${email.error})` : ""}`));
  for (const call of step.http_requests || []) facts.push(h("li", {}, `${call.method} ${call.url} → ${call.status_code ?? call.error ?? "no answer"}`, call.duration_ms !== undefined && call.duration_ms !== null ? ` in ${call.duration_ms} ms` : ""));
  if (step.retry) facts.push(h("li", {}, `Retried (attempt ${step.retry.attempt}) by ${step.retry.requested_by}`, step.retry.reason ? `: ${step.retry.reason}` : ""));
  if (step.resolution) facts.push(h("li", {}, `Resolved: ${JSON.stringify(step.resolution)}`));
  return h("li", { class: current ? "current" : null, "data-step-id": step.step_id, "data-status": step.status, "aria-current": current ? "step" : false },
    h("div", { class: "step-head" },
      badge(step.status), h("strong", {}, step.name || step.step_id),
      h("span", { class: "code muted" }, `${step.step_id}${step.step_type ? ` · ${step.step_type}` : ""}`),
      current ? h("span", { class: "badge info" }, "current step") : null),
    h("div", { class: "times" }, "Started ", time(step.started_at),
      step.completed_at ? [" · ended ", time(step.completed_at), ` · took ${duration(step.started_at, step.completed_at)}`] : null),
    step.error ? h("p", { class: "problem step-error" }, step.error) : null,
    facts.length ? h("ul", {}, facts) : null,
    step.output !== null && step.output !== undefined ? keyed(json(step.output, "Output"), `step-${index}`) : null);
}

function keyed(details, key) {
  details.dataset.key = key;
  return details;
}

function actionsPanel(ctx, execution, refresh, message) {
  const { session } = ctx;
  const forms = [];
  const id = execution.id;
  if (ctx.can("work") && OPEN.includes(execution.status)) {
    const name = h("input", { type: "text", required: true, autocomplete: "off", pattern: "[A-Za-z0-9_.\\-]+" });
    const payload = h("textarea", { rows: 3, spellcheck: "false" }, "{}");
    const waitingSignal = (execution.steps || []).find((s) => s.status === "waiting" && s.waiting_for === "signal");
    const awaited = waitingSignal?.detail?.signal ?? waitingSignal?.detail;
    if (typeof awaited === "string") name.value = awaited;
    forms.push(h("form", { class: "panel", id: "signal-form", "aria-labelledby": "signal-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        let body;
        try { body = JSON.parse(payload.value || "{}"); } catch (error) {
          replace(message, problemBox({ message: `The payload is not JSON: ${error.message}` }, "Signal not sent")); return;
        }
        const sent = await busy(event.submitter, () => post(`/executions/${id}/signals/${encodeURIComponent(name.value.trim())}`, body), message);
        if (sent) { toast(`Signal ${name.value} sent.`); refresh(); }
      } },
      h("h2", { id: "signal-heading" }, "Send a signal"),
      h("div", { class: "row" }, field("Signal name", name, { name: "signal" }), field("Payload (JSON)", payload, { name: "payload" })),
      h("p", {}, h("button", { type: "submit", class: "primary" }, "Send signal"))));
    const reason = h("input", { type: "text", autocomplete: "off", maxlength: 1000 });
    forms.push(h("form", { class: "panel", id: "cancel-form", "aria-labelledby": "cancel-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!confirm("Cancel this execution? Its completed steps' compensations run.")) return;
        const done = await busy(event.submitter, () => post(`/executions/${id}/cancel`, { reason: reason.value.trim() || undefined }), message);
        if (done) { toast("Cancel requested."); refresh(); }
      } },
      h("h2", { id: "cancel-heading" }, "Cancel"),
      field("Reason", reason, { name: "reason" }),
      h("p", {}, h("button", { type: "submit", class: "danger" }, "Cancel execution"))));
  }
  if (ctx.can("work") && RETRYABLE.includes(execution.status)) {
    const steps = [...new Set((execution.steps || []).filter((s) => !s.within && s.step_type !== "trigger").map((s) => s.step_id))];
    const from = select([["", "the step it ended on"], ...steps], "", {});
    const reason = h("input", { type: "text", autocomplete: "off", maxlength: 1000 });
    forms.push(h("form", { class: "panel", id: "retry-form", "aria-labelledby": "retry-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        const done = await busy(event.submitter, () => post(`/executions/${id}/retry`,
          { from_step: from.value || undefined, reason: reason.value.trim() || undefined }), message);
        if (done) { toast("Retry started."); refresh(); }
      } },
      h("h2", { id: "retry-heading" }, "Retry"),
      h("div", { class: "row" }, field("Run again from", from, { name: "from_step" }), field("Reason", reason, { name: "reason" })),
      h("p", {}, h("button", { type: "submit", class: "primary" }, "Retry execution"))));
  }
  if (ctx.can("manage") && execution.status === "needs_attention" && execution.current_step_id) {
    const step = execution.current_step_id;
    const reason = h("input", { type: "text", autocomplete: "off", maxlength: 1000 });
    const act = (what) => async (event) => {
      const done = await busy(event.currentTarget, () => post(`/executions/${id}/steps/${encodeURIComponent(step)}/${what}`,
        { reason: reason.value.trim() || undefined }), message);
      if (done) { toast(what === "retry" ? `Step ${step} runs again.` : `Step ${step} skipped.`); refresh(); }
    };
    forms.push(h("form", { class: "panel", id: "parked-form", "aria-labelledby": "parked-heading", onsubmit: (e) => e.preventDefault() },
      h("h2", { id: "parked-heading" }, `Parked on step ${step}`),
      field("Reason", reason, { name: "reason" }),
      h("p", { class: "row" }, h("button", { type: "button", class: "primary", onclick: act("retry") }, "Retry the step"),
        h("button", { type: "button", onclick: act("skip") }, "Skip the step"))));
  }
  if (!forms.length) {
    const why = !ctx.can("work")
      ? `Your role (${session.role}) can read executions but not signal, cancel or retry them.`
      : `No action applies to a ${execution.status.replace(/_/g, " ")} execution.`;
    return h("section", { "aria-labelledby": "actions-heading", id: "actions" }, h("h2", { id: "actions-heading" }, "Actions"), h("p", { class: "muted", id: "no-actions" }, why));
  }
  return h("section", { "aria-labelledby": "actions-heading", id: "actions" }, h("h2", { id: "actions-heading" }, "Actions"), h("div", { class: "grid2" }, forms));
}

export async function render(ctx) {
  const { main, params, signal } = ctx;
  const id = params.id;
  const message = h("div", { id: "execution-problem" });
  const summary = h("div");
  const timeline = h("div", { id: "timeline" });
  const tasks = h("div", { id: "execution-tasks" });
  const actions = h("div");
  const live = h("p", { class: "muted", id: "live-state" });
  let execution = await get(`/executions/${id}`, {}, { signal });
  ctx.setTitle(`Execution ${id.slice(0, 8)}`);
  const [definition, contact] = await Promise.all([
    get(`/definitions/${execution.definition_id}`, {}, { signal }).catch(() => null),
    execution.contact_id ? get(`/contacts/${execution.contact_id}`, {}, { signal }).catch(() => null) : null,
  ]);
  const labels = new Map((definition?.statuses || []).map((s) => [s.id, s.label]));

  replace(main,
    h("p", {}, link("/executions", "← All executions")),
    h("h1", {}, `${definition?.name || "Execution"} `, h("span", { class: "muted code" }, id.slice(0, 8))),
    message, summary, live, actions,
    h("section", { "aria-labelledby": "timeline-heading" }, h("h2", { id: "timeline-heading" }, "Step timeline"), timeline),
    h("section", { "aria-labelledby": "tasks-heading" }, h("h2", { id: "tasks-heading" }, "Tasks"), tasks));

  let shownVersion = null;
  let actionsKey = null;
  let refreshAfterAction = async () => {};
  const show = async () => {
    execution = await get(`/executions/${id}`, {}, { signal });
    const open = OPEN.includes(execution.status);
    live.className = open ? "live" : "muted";
    live.textContent = open ? `Live: read again every 2 s (last ${new Date().toLocaleTimeString()}).` : "This execution has ended.";
    if (execution.version === shownVersion) return open;
    shownVersion = execution.version;
    replace(summary, h("div", { class: "panel" }, h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", { id: "execution-status" }, badge(execution.status)),
      h("dt", {}, "UI status"), h("dd", { id: "execution-ui-status" }, execution.ui_status ? badge(execution.ui_status, labels.get(execution.ui_status) || execution.ui_status) : "—"),
      h("dt", {}, "Current step"), h("dd", { id: "current-step", class: "code" }, execution.current_step_id || "—"),
      h("dt", {}, "Definition"), h("dd", {}, definition?.name || execution.definition_id, ` (version ${execution.definition_version ?? "?"})`),
      h("dt", {}, "Contact"), h("dd", {}, contact ? link(`/executions?contact_id=${contact.id}`, contactName(contact)) : execution.contact_id || "—",
        contact?.email ? h("span", { class: "muted" }, ` <${contact.email}>`) : null),
      h("dt", {}, "Started"), h("dd", {}, time(execution.started_at || execution.created_at)),
      h("dt", {}, "Ended"), h("dd", {}, time(execution.completed_at), execution.completed_at ? ` (took ${duration(execution.started_at || execution.created_at, execution.completed_at)})` : ""),
      h("dt", {}, "Workflow"), h("dd", { class: "code" }, execution.workflow_id || "—"),
      execution.cancelled_by ? [h("dt", {}, "Cancelled by"), h("dd", {}, execution.cancelled_by)] : null),
      execution.error ? h("p", { class: "problem" }, execution.error) : null,
      execution.input && Object.keys(execution.input).length ? keyed(json(execution.input, "Input"), "input") : null,
      execution.trigger ? keyed(json(execution.trigger, "Trigger"), "trigger") : null,
      execution.output !== null && execution.output !== undefined ? keyed(json(execution.output, "Output"), "output") : null));
    const steps = execution.steps || [];
    // Keep what the reader unfolded (an output, the input) across the live updates.
    const unfolded = new Set([...main.querySelectorAll("details[open]")].map((d) => d.dataset.key));
    replace(timeline, steps.length
      ? h("ol", { class: "timeline", "aria-label": "Steps, in the order they ran" }, steps.map((s, i) => timelineEntry(s, execution, i)))
      : h("p", { class: "muted" }, "No step has run yet."));
    main.querySelectorAll("details").forEach((d) => { if (unfolded.has(d.dataset.key)) d.open = true; });
    // The action forms are rebuilt only when what they offer changes, not to lose typed input.
    const key = `${execution.status}|${execution.current_step_id}`;
    if (key !== actionsKey) {
      actionsKey = key;
      replace(actions, actionsPanel(ctx, execution, () => refreshAfterAction(), message));
    }
    const page = await get("/tasks", { execution_id: id, limit: 200 }, { signal });
    replace(tasks, table([
      { label: "Task", value: (t) => t.title },
      { label: "Status", value: (t) => badge(t.status) },
      { label: "Assigned to", value: (t) => h("span", { class: "code" }, t.assigned_to) },
      { label: "Due", value: (t) => time(t.due_date) },
      { label: "Outcome", value: (t) => t.metadata?.outcome ?? "—" },
      { label: "Completed", value: (t) => time(t.completed_at) },
    ], page.items, { caption: "Tasks this execution created", empty: "This execution created no task." }));
    return open;
  };
  let following = null;
  const follow = () => {
    if (following?.running()) return;
    following = poll(show, { every: 2000, signal, immediate: false, onError: (error) => replace(message, problemBox(error)) });
  };
  refreshAfterAction = async () => {
    // The API accepted the action once Temporal had it; the read side shows its effect a
    // moment later. Wait for the execution to change (or 10 s), then follow it again.
    const before = execution.version;
    await until(async () => (await get(`/executions/${id}`, { include_steps: false }, { signal })).version !== before,
      { ms: 400, timeoutMs: 10000, signal }).catch(() => null);
    shownVersion = null;
    if (await show().catch((error) => { replace(message, problemBox(error)); return false; })) follow();
  };
  if (await show()) follow();
}
