// Projections (admins and owners): where each read model stands (GET /admin/projections, read
// again every 2 s): status, position against the store's head, lag in events and seconds,
// parked events, the latest rebuild's phase and progress. An org's admins see their org's share
// (scope "org"); platform operators (scope "store") also get the tools that touch every org:
// a rebuild, and the parked events with retry and skip (GET/POST /admin/projections/{name}/parked).
// Which view the caller has is what the API answers, not what the token seems to say.

import { get, post } from "../api.js";
import { badge, busy, field, h, link, poll, problemBox, replace, table, time, toast } from "../ui.js";
import { useStyles } from "./definitions-style.js";

export const title = "Projections";

function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1) return "0 s";
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

function rebuildCell(rebuild) {
  if (!rebuild) return h("span", { class: "muted" }, "never");
  const percent = Math.round((rebuild.progress ?? 0) * 100);
  return h("div", { "data-phase": rebuild.phase },
    badge(rebuild.phase === "done" ? "completed" : rebuild.phase === "failed" ? "failed" : rebuild.running ? "rebuilding" : "waiting",
      `${rebuild.kind || "rebuild"} ${String(rebuild.phase).replace(/_/g, " ")}${rebuild.running || rebuild.phase === "done" ? "" : " (interrupted)"}`.replace(" done (interrupted)", " done")),
    " ",
    h("progress", { class: "progress", max: "100", value: String(percent), "aria-label": `Rebuild progress ${percent} %` }),
    ` ${percent} %`,
    rebuild.running && rebuild.eta_seconds !== null && rebuild.eta_seconds !== undefined ? h("div", { class: "muted" },
      `${Math.round(rebuild.rate || 0)} events/s, about ${seconds(rebuild.eta_seconds)} left`) : null,
    rebuild.finished_at ? h("div", { class: "muted" }, "finished ", time(rebuild.finished_at)) : null,
    rebuild.requested_by ? h("div", { class: "muted" }, `asked by ${rebuild.requested_by}`) : null,
    rebuild.error ? h("div", { class: "muted" }, rebuild.error) : null);
}

function statusTable(items, operator, onRebuild) {
  const columns = [
    { label: "Projection", value: (p) => h("strong", {}, p.name) },
    { label: "Status", value: (p) => badge(p.status) },
    { label: "Position / head", value: (p) => `${p.position} / ${p.head}` },
    { label: "Lag", value: (p) => [`${p.lag_events} event${p.lag_events === 1 ? "" : "s"}`, h("div", { class: "muted" }, seconds(p.lag_seconds))] },
    { label: "Parked", value: (p) => p.parked_events ? badge("parked", String(p.parked_events)) : "0" },
    { label: "Latest rebuild", value: (p) => rebuildCell(p.rebuild) },
  ];
  if (operator) {
    columns.push({ label: "Last error", value: (p) => p.last_error ? h("code", {}, p.last_error) : h("span", { class: "muted" }, "—") });
    columns.push({ label: "Actions", class: "actions", value: (p) => {
      if (!p.rebuildable) return h("span", { class: "muted" }, "a follower: nothing to rebuild");
      const button = h("button", { type: "button", "data-rebuild": p.name, disabled: p.rebuild?.running || false,
        "aria-label": `Rebuild ${p.name}`, onclick: () => onRebuild(p.name, button) }, "Rebuild");
      return button;
    } });
  }
  return table(columns, items, { caption: "Read models", rowAttrs: (p) => ({ "data-projection": p.name, "data-status": p.status }) });
}

async function parkedSection(names, signal, refresh) {
  const box = h("section", { "aria-labelledby": "parked-heading", id: "parked" },
    h("h2", { id: "parked-heading" }, "Parked events"),
    h("p", { class: "muted" }, "Events a projection could not apply after its retries: fix the cause, then retry one, or skip it for good with a reason (recorded, and left out of every later rebuild)."));
  const rows = [];
  for (const name of names) {
    const page = await get(`/admin/projections/${name}/parked`, { status: "all", limit: 200 }, { signal });
    rows.push(...page.items.map((item) => ({ ...item, projection: name })));
  }
  rows.sort((a, b) => (a.status === "parked" ? 0 : 1) - (b.status === "parked" ? 0 : 1) || a.position - b.position);
  const where = h("div");
  box.append(where, table([
    { label: "Projection", value: (p) => p.projection },
    { label: "Position", value: (p) => String(p.position) },
    { label: "Event", value: (p) => [h("code", {}, p.event_type), h("div", {},
      link(`/audit?aggregate_id=${p.originator_id}`, `its aggregate's events`, { title: p.originator_id }))] },
    { label: "Error", value: (p) => [h("code", {}, p.error), h("div", { class: "muted" }, `${p.attempts} attempt${p.attempts === 1 ? "" : "s"}, parked `, time(p.parked_at))] },
    { label: "Status", value: (p) => [badge(p.status), p.resolved_by ? h("div", { class: "muted" }, `by ${p.resolved_by}`, p.resolution ? `: ${p.resolution}` : "") : null] },
    { label: "Actions", class: "actions", value: (p) => {
      if (p.status !== "parked") return h("span", { class: "muted" }, "—");
      const retry = h("button", { type: "button", "data-retry": p.position, "aria-label": `Retry event ${p.position} of ${p.projection}`,
        onclick: () => busy(retry, async () => {
          await post(`/admin/projections/${p.projection}/parked/${p.position}/retry`, undefined, { signal });
          toast(`Retry of event ${p.position} requested.`);
          refresh();
        }, where) }, "Retry");
      const reason = h("input", { type: "text", name: "reason", maxlength: "1000", required: true, autocomplete: "off" });
      const skip = h("button", { type: "submit", class: "danger", "data-skip": p.position }, "Skip");
      const form = h("form", { class: "row", "aria-label": `Skip event ${p.position} of ${p.projection}`,
        onsubmit: (event) => {
          event.preventDefault();
          busy(skip, async () => {
            await post(`/admin/projections/${p.projection}/parked/${p.position}/skip`, { reason: reason.value }, { signal });
            toast(`Skip of event ${p.position} requested.`);
            refresh();
          }, where);
        } },
      field("Reason to skip", reason), skip);
      return h("div", {}, retry, form);
    } },
  ], rows, { caption: "Parked, then retried or skipped", empty: "No event was ever parked.", rowAttrs: (p) => ({ "data-parked": p.position, "data-status": p.status }) }));
  return box;
}

export async function render(ctx) {
  const { main, signal } = ctx;
  useStyles();
  const statusBox = h("div", { id: "projection-status", "aria-live": "off" });
  const parkedBox = h("div", { id: "parked-box" });
  const where = h("div");
  const updated = h("p", { class: "muted", id: "updated" });
  let operator = false;
  let shownParked = "";

  const rebuild = (name, button) => busy(button, async () => {
    await post(`/admin/projections/${name}/rebuild`, undefined, { signal });
    toast(`Rebuild of ${name} requested: the projector runs it; its progress shows below.`);
    tick();
  }, where);

  const tick = async () => {
    const answer = await get("/admin/projections", {}, { signal });
    operator = answer.items.some((p) => p.scope === "store");
    // Read again every 2 s: keep the keyboard's place (a Rebuild button) across the redraw.
    const focused = statusBox.contains(document.activeElement) ? document.activeElement.dataset.rebuild : null;
    replace(statusBox, statusTable(answer.items, operator, rebuild));
    if (focused) statusBox.querySelector(`[data-rebuild="${CSS.escape(focused)}"]`)?.focus();
    replace(updated, "Read ", time(new Date().toISOString()), "; read again every 2 s.");
    if (operator) {
      // The parked list changes only when something is parked or resolved: read it then.
      const key = answer.items.map((p) => `${p.name}:${p.parked_events}`).join(",");
      if (key !== shownParked) {
        shownParked = key;
        try {
          replace(parkedBox, await parkedSection(answer.items.filter((p) => p.rebuildable).map((p) => p.name), signal, () => { shownParked = ""; tick(); }));
        } catch (error) {
          if (error?.name !== "AbortError") replace(parkedBox, problemBox(error, "The parked events could not be read"));
        }
      }
    }
  };

  await tick();
  replace(main,
    h("h1", {}, "Projections"),
    h("p", { class: "muted" }, operator
      ? "The whole store, as a platform operator sees it: rebuilds and parked events act on every org's rows."
      : "Your org's share of each read model: how far it has applied your org's events. Rebuilds and parked events span every org, so they are platform operators' tools."),
    updated, where, statusBox, operator ? parkedBox : null);
  poll(tick, { every: 2000, signal, immediate: false, onError: (error) => replace(where, problemBox(error, "The status could not be read")) });
}
