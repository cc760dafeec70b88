// Audit: the event store as auditors read it (docs/auditing.md), in four views chosen by ?view=
//   events      GET /events with every filter it has, paged by cursor, and the NDJSON export
//   aggregate   GET /aggregates/{type}/{id}/history and its state at a time or version (/state)
//   execution   an execution's events and its workflow lineage: GET /workflows/{id}/summary and
//               /events of its workflow, and the events of the execution written by any workflow
//   contact     a contact's lineage (GET /contacts/{id}/lineage): its executions, their tasks, the
//               workflows that wrote any of it, and every event involved
//   integrity   GET /audit/verify, the hash chain's check (admins and owners: the org's share)
// Every filter lives in the address, so a view can be bookmarked and sent to a colleague.

import { api, get } from "../api.js";
import { badge, field, h, json, link, problemBox, replace, select, table, time, toast } from "../ui.js";
import { useStyles } from "./definitions-style.js";

export const title = "Audit";

export const AGGREGATE_TYPES = ["contact", "task", "workflow_definition", "workflow_execution", "admin_action", "secret"];
const FILTERS = ["aggregate_type", "aggregate_id", "event_type", "workflow_id", "run_id", "correlation_id", "actor", "since", "until", "after"];
const TIMES = new Set(["since", "until"]);
const LABELS = {
  aggregate_type: "Aggregate type", aggregate_id: "Aggregate id", event_type: "Event type",
  workflow_id: "Workflow id", run_id: "Workflow run id", correlation_id: "Correlation id",
  actor: "Actor", since: "Occurred from", until: "Occurred before", after: "After position",
};

/** "2026-12-02T18:40" (a datetime-local value, the browser's zone) as ISO 8601 in UTC. */
export function isoOf(local) {
  if (!local) return "";
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

/** An ISO time as a datetime-local value in the browser's zone. */
function localOf(iso) {
  const date = new Date(iso || "");
  if (Number.isNaN(date.getTime())) return "";
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

function executionOfWorkflow(workflowId) {
  const found = /^execution-([0-9a-f-]{36})$/i.exec(workflowId || "");
  return found ? found[1] : null;
}

function workflowCell(event) {
  const id = event.metadata?.workflow_id;
  if (!id) return h("span", { class: "muted" }, event.metadata?.source || "—");
  const execution = executionOfWorkflow(id);
  return h("span", {},
    execution ? link(`/audit?view=execution&id=${execution}`, id) : link(`/audit?workflow_id=${encodeURIComponent(id)}`, id),
    event.metadata?.workflow_type ? h("div", { class: "muted" }, event.metadata.workflow_type) : null);
}

function aggregateCell(event) {
  return h("span", {},
    link(`/audit?view=aggregate&type=${event.aggregate_type}&id=${event.aggregate_id}`, `${event.aggregate_type} ${event.aggregate_id.slice(0, 8)}…`,
      { title: event.aggregate_id }),
    h("div", { class: "muted" }, `version ${event.aggregate_version}`));
}

/** The events table every view shows. */
function eventsTable(events, caption, { empty = "No events match." } = {}) {
  return h("div", { class: "table-scroll" }, table([
    { label: "Position", value: (e) => String(e.position) },
    { label: "Occurred", value: (e) => time(e.occurred_at) },
    { label: "Event", value: (e) => [h("code", {}, e.event_type), e.data?.step_id ? h("div", { class: "muted" }, `step ${e.data.step_id}`) : null] },
    { label: "Aggregate", value: aggregateCell },
    { label: "Actor", value: (e) => e.metadata?.actor || h("span", { class: "muted" }, "—") },
    { label: "Workflow", value: workflowCell },
    { label: "Data", value: (e) => json(e.data, "data"), class: "data" },
  ], events, { caption, empty, rowAttrs: (e) => ({ "data-position": e.position, "data-event-type": e.event_type }) }));
}

function tabs(current, ctx) {
  const views = [["events", "Events"], ["aggregate", "Aggregate history and state"], ["execution", "Execution lineage"], ["contact", "Contact lineage"]];
  if (ctx.can("manage")) views.push(["integrity", "Integrity"]);
  return h("nav", { "aria-label": "Audit views" }, h("ul", { class: "tabs" }, views.map(([view, label]) =>
    h("li", {}, link(view === "events" ? "/audit" : `/audit?view=${view}`, label, { "aria-current": view === current ? "page" : false })))));
}

/** Save the org's events matching `filters` as NDJSON: fetched with the token, then downloaded. */
async function exportNdjson(filters, button) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const response = await api("/events", { query: filters, raw: true, headers: { Accept: "application/x-ndjson" } });
    const blob = await response.blob();
    const text = await blob.text();
    const lines = text ? text.split("\n").filter(Boolean).length : 0;
    const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    const anchor = h("a", { href: url, download: `events-${new Date().toISOString().replace(/[:.]/g, "-")}.ndjson` });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    button.dataset.exported = String(lines);
    toast(`Exported ${lines} event${lines === 1 ? "" : "s"} as NDJSON.`);
  } catch (error) {
    toast(`The export failed: ${error.detail || error.message || error}`, "bad");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

async function eventsView(ctx) {
  const { query, signal } = ctx;
  const filters = Object.fromEntries(FILTERS.map((name) => [name, query.get(name) || ""]));
  const controls = {};
  for (const name of FILTERS) {
    if (name === "aggregate_type") controls[name] = select([["", "Any"], ...AGGREGATE_TYPES], filters[name], { name });
    else if (TIMES.has(name)) controls[name] = h("input", { type: "datetime-local", name, value: localOf(filters[name]), step: "1" });
    else if (name === "after") controls[name] = h("input", { type: "number", name, min: "0", step: "1", value: filters[name] });
    else controls[name] = h("input", { type: "search", name, value: filters[name], autocomplete: "off", maxlength: "200" });
  }
  const form = h("form", { class: "panel", role: "search", "aria-label": "Filter events", id: "event-filters",
    onsubmit: (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const name of FILTERS) {
        const value = TIMES.has(name) ? isoOf(controls[name].value) : controls[name].value.trim();
        if (value) params.set(name, value);
      }
      ctx.navigate("/audit" + (params.toString() ? "?" + params : ""));
    } },
  h("div", { class: "row" }, FILTERS.map((name) => field(LABELS[name], controls[name], {
    hint: TIMES.has(name) ? "Your local time." : null }))),
  h("div", { class: "row" },
    h("button", { type: "submit", class: "primary" }, "Find events"),
    link("/audit", "Clear", { class: "button" })));

  const chosen = Object.fromEntries(Object.entries(filters).filter(([, v]) => v));
  const exportButton = h("button", { type: "button", id: "export-ndjson", onclick: () => exportNdjson(chosen, exportButton) },
    "Export every match (NDJSON)");
  const results = h("div", { id: "event-results" });
  try {
    const page = await get("/events", { ...chosen, cursor: query.get("cursor") || undefined, limit: 50 }, { signal });
    const next = new URLSearchParams(query);
    next.set("cursor", page.next_cursor || "");
    const first = new URLSearchParams(query);
    first.delete("cursor");
    replace(results,
      eventsTable(page.items, "Events, oldest first"),
      h("p", { class: "pager" },
        query.get("cursor") ? link(`/audit?${first}`, "First page") : null,
        query.get("cursor") && page.next_cursor ? " · " : null,
        page.next_cursor ? link(`/audit?${next}`, "Next page", { id: "next-events" }) : null));
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    replace(results, problemBox(error, "The events could not be read"));
  }
  return [form, h("div", { class: "row" }, exportButton,
    h("span", { class: "hint" }, "Streams every event matching the filters (not only this page) into a file.")), results];
}

async function aggregateView(ctx) {
  const { query, signal } = ctx;
  const type = AGGREGATE_TYPES.includes(query.get("type")) ? query.get("type") : "contact";
  const id = (query.get("id") || "").trim();
  const asOf = query.get("as_of") || "";
  const version = /^[1-9][0-9]{0,8}$/.test(query.get("version") || "") ? query.get("version") : "";
  const typeSelect = select(AGGREGATE_TYPES, type, { name: "type" });
  const idInput = h("input", { type: "search", name: "id", value: id, required: true, autocomplete: "off", maxlength: "200" });
  const asOfInput = h("input", { type: "datetime-local", name: "as_of", value: localOf(asOf), step: "1" });
  const versionInput = h("input", { type: "number", name: "version", min: "1", step: "1", value: version });
  const form = h("form", { class: "panel", "aria-label": "Choose an aggregate", id: "aggregate-form",
    onsubmit: (event) => {
      event.preventDefault();
      const params = new URLSearchParams({ view: "aggregate", type: typeSelect.value, id: idInput.value.trim() });
      if (versionInput.value) params.set("version", versionInput.value);
      else if (asOfInput.value) params.set("as_of", isoOf(asOfInput.value));
      ctx.navigate(`/audit?${params}`);
    } },
  h("div", { class: "row" },
    field("Type", typeSelect), h("div", { class: "wide-field" }, field("Id", idInput)),
    field("State as of", asOfInput, { hint: "Your local time; empty: now." }),
    field("or at version", versionInput)),
  h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Show history and state")));
  if (!id) return [form, h("p", { class: "muted" }, "Name an aggregate (a contact's, task's, execution's or definition's id) to read its history.")];

  const out = [form];
  try {
    const [history, state] = await Promise.all([
      get(`/aggregates/${type}/${encodeURIComponent(id)}/history`, {}, { signal }),
      get(`/aggregates/${type}/${encodeURIComponent(id)}/state`, { as_of: version ? undefined : asOf || undefined, version: version || undefined }, { signal })
        .catch((error) => { if (error?.name === "AbortError") throw error; return error; }),
    ]);
    const when = version ? `at version ${version}` : asOf ? ["as of ", time(asOf)] : "now";
    out.push(h("section", { "aria-labelledby": "state-heading", id: "aggregate-state" },
      h("h2", { id: "state-heading" }, "State ", when),
      state instanceof Error ? problemBox(state, "No state at that point")
        : [h("dl", { class: "facts" },
          h("dt", {}, "Version"), h("dd", {}, String(state.version)),
          h("dt", {}, "Created"), h("dd", {}, time(state.created_on)),
          h("dt", {}, "Last changed"), h("dd", {}, time(state.modified_on))),
        json(Object.fromEntries(Object.entries(state).filter(([k]) => !["aggregate_type", "id", "version", "created_on", "modified_on", "as_of", "requested_version"].includes(k))))]));
    out.push(h("section", { "aria-labelledby": "history-heading" },
      h("h2", { id: "history-heading" }, `History (${history.items.length} event${history.items.length === 1 ? "" : "s"})`),
      h("div", { class: "table-scroll" }, table([
        { label: "Version", value: (e) => link(`/audit?view=aggregate&type=${type}&id=${encodeURIComponent(id)}&version=${e.aggregate_version}`, `v${e.aggregate_version}`, { title: "The state right after this event" }) },
        { label: "Position", value: (e) => String(e.position) },
        { label: "Occurred", value: (e) => time(e.occurred_at) },
        { label: "Event", value: (e) => h("code", {}, e.event_type) },
        { label: "Actor", value: (e) => e.metadata?.actor || "—" },
        { label: "Workflow", value: workflowCell },
        { label: "Data", value: (e) => json(e.data, "data") },
      ], history.items, { caption: "Every event of the aggregate, in order", rowAttrs: (e) => ({ "data-version": e.aggregate_version }) }))));
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    out.push(problemBox(error, error.status === 404 ? `No ${type} ${id} in this org` : "The history could not be read"));
  }
  return out;
}

async function executionView(ctx) {
  const { query, signal } = ctx;
  const id = (query.get("id") || "").trim();
  const idInput = h("input", { type: "search", name: "id", value: id, required: true, autocomplete: "off", maxlength: "200" });
  const form = h("form", { class: "panel", "aria-label": "Choose an execution", id: "execution-form",
    onsubmit: (event) => {
      event.preventDefault();
      ctx.navigate(`/audit?${new URLSearchParams({ view: "execution", id: idInput.value.trim() })}`);
    } },
  h("div", { class: "row" }, h("div", { class: "wide-field" }, field("Execution id", idInput, { hint: "From the Executions page, or an event's workflow link." })),
    h("div", { class: "field" }, h("button", { type: "submit", class: "primary" }, "Show its events"))));
  if (!id) return [form, h("p", { class: "muted" }, "Name an execution to see every event it caused and which workflows wrote them.")];

  const workflowId = `execution-${id}`;
  const out = [form];
  let summary;
  try {
    summary = await get(`/workflows/${encodeURIComponent(workflowId)}/summary`, {}, { signal });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    out.push(problemBox(error, error.status === 404 ? `No events of execution ${id} in this org` : "The execution's workflow could not be read"));
    return out;
  }
  const quiet = (error) => { if (error?.name === "AbortError") throw error; return null; };
  const [workflowEvents, ownEvents, execution] = await Promise.all([
    get(`/workflows/${encodeURIComponent(workflowId)}/events`, {}, { signal }),
    get("/events", { aggregate_id: id, limit: 200 }, { signal }).catch(quiet),
    get(`/executions/${encodeURIComponent(id)}`, {}, { signal }).catch(quiet),
  ]);
  const others = new Map();
  for (const event of ownEvents?.items || []) {
    const wf = event.metadata?.workflow_id;
    if (wf && wf !== workflowId) others.set(wf, (others.get(wf) || 0) + 1);
  }
  out.push(
    h("section", { "aria-labelledby": "lineage-heading", id: "execution-lineage" },
      h("h2", { id: "lineage-heading" }, "Workflow lineage"),
      h("dl", { class: "facts" },
        h("dt", {}, "Workflow"), h("dd", {}, h("code", {}, workflowId), ` (${summary.workflow_type || "—"})`),
        h("dt", {}, "Events"), h("dd", {}, `${summary.event_count}, from `, time(summary.first_occurred_at), " to ", time(summary.last_occurred_at)),
        h("dt", {}, "Runs"), h("dd", {}, String(summary.runs.length)),
        h("dt", {}, "Execution"), h("dd", {}, link(`/executions/${id}`, "Its timeline in the monitor"),
          execution ? [" · status ", badge(execution.status)] : null),
        execution?.contact_id ? [h("dt", {}, "Contact"), h("dd", {},
          link(`/audit?view=contact&id=${execution.contact_id}`, "The contact's whole lineage", { id: "contact-lineage-link" }))] : null),
      table([
        { label: "Run", value: (r) => h("code", {}, r.run_id || "—") },
        { label: "Events", value: (r) => String(r.event_count) },
        { label: "First", value: (r) => time(r.first_occurred_at) },
        { label: "Last", value: (r) => time(r.last_occurred_at) },
      ], summary.runs, { caption: "Its runs (a retry or continue-as-new starts another)" }),
      table([
        { label: "Aggregate", value: (a) => link(`/audit?view=aggregate&type=${a.aggregate_type}&id=${a.aggregate_id}`, `${a.aggregate_type} ${a.aggregate_id}`) },
        { label: "Events written", value: (a) => String(a.event_count) },
        { label: "Positions", value: (a) => `${a.first_position} – ${a.last_position}` },
      ], summary.aggregates, { caption: "What it changed" }),
      others.size
        ? table([
          { label: "Workflow", value: ([wf]) => link(`/audit?workflow_id=${encodeURIComponent(wf)}`, wf) },
          { label: "Events on this execution", value: ([, n]) => String(n) },
        ], [...others], { caption: "Other workflows that wrote to this execution (signals, cancels, moves)" })
        : null,
      h("p", {}, "Counts by type: ", Object.entries(summary.event_counts).map(([type, n]) => [h("code", {}, type), ` ${n}; `]))),
    h("section", { "aria-labelledby": "execution-events-heading" },
      h("h2", { id: "execution-events-heading" }, "Its events"),
      eventsTable(workflowEvents.items, `Events written by ${workflowId}`, { empty: "No events." })));
  return out;
}

async function contactView(ctx) {
  const { query, signal } = ctx;
  const id = (query.get("id") || "").trim();
  const idInput = h("input", { type: "search", name: "id", value: id, required: true, autocomplete: "off", maxlength: "200" });
  const form = h("form", { class: "panel", "aria-label": "Choose a contact", id: "contact-form",
    onsubmit: (event) => {
      event.preventDefault();
      ctx.navigate(`/audit?${new URLSearchParams({ view: "contact", id: idInput.value.trim() })}`);
    } },
  h("div", { class: "row" }, h("div", { class: "wide-field" }, field("Contact id", idInput)),
    h("div", { class: "field" }, h("button", { type: "submit", class: "primary" }, "Show its lineage"))));
  if (!id) return [form, h("p", { class: "muted" }, "Name a contact to see the whole story: its executions, their tasks, the workflows involved, and every event.")];
  let lineage;
  try {
    lineage = await get(`/contacts/${encodeURIComponent(id)}/lineage`, {}, { signal });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    return [form, problemBox(error, error.status === 404 ? `No contact ${id} in this org` : "The lineage could not be read")];
  }
  const workflowLink = (wf) => executionOfWorkflow(wf)
    ? link(`/audit?view=execution&id=${executionOfWorkflow(wf)}`, wf)
    : link(`/audit?workflow_id=${encodeURIComponent(wf)}`, wf);
  return [form, h("section", { "aria-labelledby": "contact-lineage-heading", id: "contact-lineage" },
    h("h2", { id: "contact-lineage-heading" }, `Lineage of contact ${lineage.contact_id} (${lineage.event_count} events)`),
    h("p", {}, link(`/audit?view=aggregate&type=contact&id=${lineage.contact_id}`, "The contact's own history and state")),
    table([
      { label: "Execution", value: (e) => link(`/audit?view=execution&id=${e.execution_id}`, e.execution_id) },
      { label: "Definition", value: (e) => e.definition_id ? link(`/definitions/${e.definition_id}?version=${e.definition_version}`, `version ${e.definition_version}`) : "—" },
      { label: "Tasks", value: (e) => String(e.task_ids.length) },
      { label: "Events", value: (e) => String(e.positions.length) },
    ], lineage.executions, { caption: "Its executions", empty: "No execution ran for this contact." }),
    table([
      { label: "Task", value: (t) => link(`/audit?view=aggregate&type=task&id=${t.task_id}`, t.title || t.task_id) },
      { label: "Step", value: (t) => t.step_id ? h("code", {}, t.step_id) : "—" },
      { label: "Why here", value: (t) => t.linked_by === "contact" ? "it names the contact" : "an execution created it" },
      { label: "Events", value: (t) => String(t.positions.length) },
    ], lineage.tasks, { caption: "Their tasks", empty: "No tasks." }),
    table([
      { label: "Workflow", value: (w) => workflowLink(w.workflow_id) },
      { label: "Type", value: (w) => w.workflow_type || "—" },
      { label: "Runs", value: (w) => String(w.run_ids.length) },
      { label: "Events", value: (w) => String(w.positions.length) },
    ], lineage.workflows, { caption: "The workflows that wrote them", empty: "None." }),
    eventsTable(lineage.events, "Every event involved, in order"))];
}

async function integrityView(ctx) {
  const out = [];
  const box = h("div", { id: "integrity" });
  const check = async () => {
    replace(box, h("p", { class: "muted" }, "Recomputing the hash chain…"));
    try {
      const report = await get("/audit/verify", {}, { signal: ctx.signal });
      replace(box,
        h("p", {}, report.ok ? badge("ok", "The chain holds") : badge("broken", "The chain is broken"),
          " ", report.scope === "org" ? "(the org's share of the store)" : "(the whole store)"),
        h("dl", { class: "facts" },
          h("dt", {}, "Events checked"), h("dd", {}, String(report.checked)),
          h("dt", {}, "Last sealed event"), h("dd", {}, report.head === null || report.head === undefined ? "—" : `position ${report.head}`),
          report.ok ? null : [h("dt", {}, "First broken at"), h("dd", {}, `position ${report.first_broken_position ?? "—"}: ${report.reason ?? ""}`)],
          h("dt", {}, "Not sealed yet"), h("dd", {}, `${report.unsealed} event${report.unsealed === 1 ? "" : "s"}`,
            report.seal_lag_seconds ? `, the oldest ${report.seal_lag_seconds.toFixed(1)} s old` : ""),
          report.head_hash ? [h("dt", {}, "Head hash"), h("dd", {}, h("code", {}, report.head_hash))] : null),
        h("p", { class: "hint" }, "Every event is linked into a SHA-256 chain after it commits; the check recomputes it and names the first position where it breaks."));
    } catch (error) {
      if (error?.name === "AbortError") return;
      replace(box, problemBox(error, "The integrity check could not run"));
    }
  };
  const again = h("button", { type: "button", id: "verify-again", onclick: async () => { again.disabled = true; await check(); again.disabled = false; } }, "Check again");
  out.push(box, again);
  await check();
  return out;
}

export async function render(ctx) {
  const { main, query } = ctx;
  useStyles();
  const views = { events: eventsView, aggregate: aggregateView, execution: executionView, contact: contactView, integrity: integrityView };
  let view = views[query.get("view")] ? query.get("view") : "events";
  const refused = view === "integrity" && !ctx.can("manage");
  if (refused) view = "events";
  const content = await views[view](ctx);
  replace(main,
    h("h1", {}, "Audit"),
    h("p", { class: "muted" }, "Read from the event store itself, never from the read models: who changed what, through which workflow, and when."),
    tabs(view, ctx),
    refused ? h("p", { class: "notice", id: "integrity-refused" }, "The integrity check is for admins and owners; here are the events instead.") : null,
    content);
}
