// One definition: its versions (?version=N reads an older one), the drawing of that version's
// steps and branches with the step list beside it, activate/deactivate for admins and owners,
// a way to edit it into a new version, and how its executions went (GET /definitions/{id}/stats).

import { get, post } from "../api.js";
import { badge, busy, h, json, link, problemBox, replace, table, time, toast } from "../ui.js";
import { activeBadge } from "./definitions.js";
import { drawDefinition, stepList } from "./definitions-drawing.js";
import { useStyles } from "./definitions-style.js";

export const title = "Definition";

function ms(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1000) return `${Math.round(value)} ms`;
  const s = value / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function figure(label, value) {
  return h("div", {}, h("span", { class: "figure" }, value), h("span", { class: "muted" }, label));
}

/** The statistics of `version` (every version when null). */
async function statsSection(id, version, signal) {
  const box = h("section", { "aria-labelledby": "stats-heading", id: "definition-stats" },
    h("h2", { id: "stats-heading" }, version ? `How version ${version} went` : "How its executions went"));
  let stats;
  try {
    stats = await get(`/definitions/${id}/stats`, { version: version || undefined }, { signal });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    box.append(problemBox(error, "The statistics could not be read"));
    return box;
  }
  const runs = stats.executions;
  if (!runs.total) {
    box.append(h("p", { class: "muted" }, "No executions yet."));
    return box;
  }
  box.append(
    h("div", { class: "stats" },
      figure("executions", String(runs.total)),
      figure("ended", String(runs.ended)),
      figure("success rate", runs.success_rate === null ? "—" : `${Math.round(runs.success_rate * 100)} %`),
      figure("duration p50", ms(runs.duration_ms.p50)),
      figure("duration p95", ms(runs.duration_ms.p95))),
    h("p", {}, "By status: ", Object.entries(runs.by_status).map(([status, n]) => [badge(status, `${status.replace(/_/g, " ")}: ${n}`), " "])),
    table([
      { label: "Step", value: (s) => [h("code", {}, s.step_id), s.step_name ? ` ${s.step_name}` : ""] },
      { label: "Type", value: (s) => s.step_type || "" },
      { label: "Reached", value: (s) => String(s.reached) },
      { label: "Runs", value: (s) => String(s.runs) },
      { label: "Outcomes", value: (s) => Object.entries(s.by_outcome).map(([o, n]) => `${o.replace(/_/g, " ")} ${n}`).join(", ") },
      { label: "Time p50 / p95", value: (s) => `${ms(s.time_ms.p50)} / ${ms(s.time_ms.p95)}` },
      { label: "Waiting (people) p50", value: (s) => ms(s.wait_ms.p50) },
      { label: "Work (machine) p50", value: (s) => ms(s.work_ms.p50) },
      { label: "Waiting now", value: (s) => String(s.waiting_now) },
    ], stats.steps, { caption: "Per step" }),
    stats.waiting_now.length
      ? table([
        { label: "Step", value: (w) => h("code", {}, w.step_id) },
        { label: "Waiting for", value: (w) => w.waiting_for },
        { label: "Executions", value: (w) => String(w.count) },
        { label: "Oldest since", value: (w) => time(w.oldest_since) },
      ], stats.waiting_now, { caption: "Waiting now" })
      : null,
    h("p", {}, link(`/executions?definition_id=${id}`, "Its executions")));
  return box;
}

function actions(ctx, definition, shown) {
  if (!ctx.can("manage")) return null;
  const where = h("div");
  const toggle = h("button", { type: "button", id: definition.is_active ? "deactivate" : "activate",
    class: definition.is_active ? "danger" : "primary",
    onclick: () => busy(toggle, async () => {
      const verb = definition.is_active ? "deactivate" : "activate";
      await post(`/definitions/${definition.id}/${verb}`, undefined, { wait: true, signal: ctx.signal });
      toast(`${definition.name} ${verb}d.`);
      ctx.navigate(location.pathname.slice("/console".length) + location.search, { replace: true });
    }, where) }, definition.is_active ? "Deactivate" : "Activate");
  return h("div", { class: "panel" },
    h("div", { class: "row" },
      toggle,
      link(`/definitions/${definition.id}/edit${shown ? `?version=${shown}` : ""}`, "Edit as a new version", { class: "button", id: "edit-definition" })),
    h("p", { class: "hint" }, definition.is_active
      ? `Active: webhooks and new executions run version ${definition.active_version}. Deactivating stops new starts; running executions go on.`
      : "Inactive: nothing starts it. Activating makes its current version the one new executions run."),
    where);
}

export async function render(ctx) {
  const { main, params, query, signal } = ctx;
  useStyles();
  const id = params.id;
  const asked = /^[1-9][0-9]{0,8}$/.test(query.get("version") || "") ? Number(query.get("version")) : null;
  const current = await get(`/definitions/${id}`, {}, { signal });
  const shown = asked && asked !== current.current_version
    ? await get(`/definitions/${id}`, { version: asked }, { signal })
    : current;
  const version = shown.definition_version ?? shown.current_version;
  ctx.setTitle(current.name || "Definition");

  const versions = [];
  for (let n = current.current_version || 0; n >= 1; n -= 1) versions.push(n);
  const graph = h("div", { class: "graph", id: "definition-graph", tabindex: "0", "aria-describedby": "step-list-note" });
  replace(main,
    h("p", {}, link("/definitions", "← Definitions")),
    h("div", { class: "page-head" }, h("h1", {}, current.name || id), activeBadge(current)),
    current.description ? h("p", {}, current.description) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "Id"), h("dd", {}, h("code", {}, id)),
      h("dt", {}, "Shown"), h("dd", {}, `version ${version}`, shown.published_at ? [" · published ", time(shown.published_at)] : null),
      h("dt", {}, "Trigger"), h("dd", {}, shown.trigger?.type || "—"),
      ["form_submission", "webhook"].includes(shown.trigger?.type)
        ? [h("dt", {}, "Webhook"), h("dd", {}, h("code", {}, `${location.origin}/webhooks/${id}`))]
        : null),
    actions(ctx, current, asked),
    h("nav", { "aria-label": "Versions" }, h("h2", {}, "Versions"),
      h("ul", { class: "versions" }, versions.map((n) => h("li", {},
        link(`/definitions/${id}${n === current.current_version ? "" : `?version=${n}`}`, `v${n}`, {
          "aria-current": n === version ? "page" : false,
        }),
        n === current.active_version && current.is_active ? " (active)" : null,
        n === current.current_version ? " (current)" : null)))),
    h("section", { "aria-labelledby": "drawing-heading" },
      h("h2", { id: "drawing-heading" }, `Steps of version ${version}`),
      h("div", { class: "drawing-layout" },
        graph,
        h("div", {}, h("p", { class: "hint", id: "step-list-note" }, "This table lists the same steps and where each goes."),
          stepList(shown)))),
    await statsSection(id, asked, signal),
    json({ name: shown.name, description: shown.description, statuses: shown.statuses, steps: shown.steps }, "The definition as JSON"));
  await drawDefinition(graph, shown);
}
