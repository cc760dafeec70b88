// Shared building blocks of the pages: elements, tables, forms, status badges, problems,
// toasts, times and polling. Text always goes in as text (never innerHTML), so data from the
// API cannot inject markup.

import { ApiProblem } from "./api.js";

/** h("button", {class: "primary", onclick: f}, "Save"): an element with attributes and children.
 * Attributes starting with "on" are listeners; `false`/null/undefined attributes are left out;
 * children may be strings, numbers, nodes, arrays or null. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "value" && "value" in element) element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace `element`'s content with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A link inside the console ("/executions/1" → /console/executions/1), routed without a reload. */
export function link(path, text, attrs = {}) {
  return h("a", { href: "/console" + path, "data-link": true, ...attrs }, text);
}

let fieldCounter = 0;
/** A labelled form control: field("Outcome", h("select", …), {hint, name}). The control gets an
 * id and `name`, the label points at it, and the hint is its description. */
export function field(label, control, { hint, name } = {}) {
  const id = control.id || `f${++fieldCounter}`;
  control.id = id;
  if (name) control.name = name;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("span", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** A <select> of [value, label] pairs (or plain values), with `selected` chosen. */
export function select(options, selected, attrs = {}) {
  return h("select", attrs, options.map((option) => {
    const [value, label] = Array.isArray(option) ? option : [option, option];
    return h("option", { value, selected: String(value) === String(selected ?? "") }, label);
  }));
}

/**
 * A table: columns are {label, value: row => text|node, class?}; rows an array.
 * Options: caption (shown, names the table for screen readers), empty (text when no rows),
 * rowClass (row => class name), rowAttrs (row => attributes of the <tr>).
 */
export function table(columns, rows, { caption, empty = "Nothing to show.", rowClass, rowAttrs } = {}) {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", { class: rowClass ? rowClass(row) : null, ...(rowAttrs ? rowAttrs(row) : {}) },
      columns.map((c) => h("td", { class: c.class || null }, c.value(row)))))));
}

const STATUS_TONES = {
  ok: ["completed", "done", "succeeded", "active", "ok", "live", "compensated", "skipped", "approved"],
  info: ["running", "in_progress", "pending", "todo", "compensating", "retried", "migrated", "rebuilding", "catching_up"],
  warn: ["waiting", "needs_attention", "timed_out", "lagging", "parked", "overdue", "inactive"],
  bad: ["failed", "cancelled", "compensation_failed", "error", "rejected", "broken"],
};

/** A status shown as a coloured badge with its words (colour is never the only signal). */
export function badge(status, label) {
  const text = label ?? String(status ?? "—").replace(/_/g, " ");
  const tone = Object.entries(STATUS_TONES).find(([, list]) => list.includes(status))?.[0];
  return h("span", { class: `badge ${tone || ""}`.trim(), "data-status": status ?? "" }, text);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
/** An ISO time as local date and time, in a <time> element carrying the exact value. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, timeFormat.format(date));
}

/** "in 3 hours" / "2 days ago" for an ISO time. */
export function relative(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) || ["second", 1];
  return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(Math.round(seconds / size), unit);
}

/** A duration between two ISO times, as "1.2 s", "3 min 4 s", "2 h 5 min". */
export function duration(fromIso, toIso) {
  if (!fromIso || !toIso) return "";
  const ms = new Date(toIso).getTime() - new Date(fromIso).getTime();
  if (!(ms >= 0)) return "";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** Pretty JSON in a <pre>, inside a <details> when `summary` is given. */
export function json(value, summary) {
  const pre = h("pre", { class: "json" }, JSON.stringify(value, null, 2));
  return summary ? h("details", {}, h("summary", {}, summary), pre) : pre;
}

/** A problem (ApiProblem or any error) as an alert box: title, detail, and each `errors` entry
 * with its field path (and step id). `role="alert"` so screen readers announce it. */
export function problemBox(error, heading) {
  const problem = error instanceof ApiProblem ? error
    : { title: heading || "Something went wrong", detail: String(error?.message || error), errors: [], status: 0 };
  return h("div", { class: "problem", role: "alert", "data-status": problem.status },
    h("h2", {}, heading || problem.title),
    problem.detail ? h("p", {}, problem.detail) : null,
    problem.errors?.length ? h("ul", {}, problem.errors.map((e) => h("li", { "data-field": e.field || "" },
      e.field ? h("code", {}, e.field) : null, e.step_id ? ` (step ${e.step_id})` : null,
      e.field || e.step_id ? ": " : null, e.message || ""))) : null);
}

/** Mark the controls of `form` named in the problem's `errors` (aria-invalid, message below). */
export function markInvalid(form, error) {
  form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((e) => e.remove());
  if (!(error instanceof ApiProblem)) return;
  for (const entry of error.errors) {
    const control = form.querySelector(`[name="${CSS.escape(entry.field || "")}"]`);
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    control.after(h("span", { class: "hint field-error", role: "alert" }, entry.message));
  }
}

/** A short message in the corner, read out by screen readers; `kind` "bad" for failures. */
export function toast(message, kind = "ok", ms = 5000) {
  const box = h("div", { class: `toast ${kind}` }, message);
  document.getElementById("toasts").append(box);
  setTimeout(() => box.remove(), ms);
}

/** Disable `button` while `action()` runs (no double submits); its problem, if any, is shown
 * in `where` (an element) or as a toast. Resolves to the action's result or undefined. */
export async function busy(button, action, where) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } catch (error) {
    if (where) replace(where, problemBox(error));
    else toast(error.detail || error.message || String(error), "bad");
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/**
 * poll(tick, {every, signal, onError, immediate}): run `tick` (now, unless immediate is false)
 * and then every `every` ms until `signal` aborts (pass the page's ctx.signal: leaving the page
 * stops it) or `tick` returns false. A tick's error goes to `onError` (default: ignored, and
 * tried again next time, so a restart of the API does not break a live page). Pauses while the
 * tab is hidden. Returns {running: () => bool}.
 */
export function poll(tick, { every = 5000, signal, onError = () => {}, immediate = true } = {}) {
  let timer = null;
  let running = true;
  const run = async () => {
    if (signal?.aborted) { running = false; return; }
    if (document.hidden) { timer = setTimeout(run, every); return; }
    let again = true;
    try {
      again = (await tick()) !== false;
    } catch (error) {
      if (error?.name !== "AbortError") onError(error);
    }
    if (again && !signal?.aborted) timer = setTimeout(run, every);
    else running = false;
  };
  signal?.addEventListener("abort", () => { clearTimeout(timer); running = false; });
  if (immediate) run();
  else timer = setTimeout(run, every);
  return { running: () => running };
}

/** Wait until `check()` resolves truthy (every `ms`, at most `timeoutMs`); its value, or null. */
export async function until(check, { ms = 300, timeoutMs = 10000, signal } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (!signal?.aborted) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
  return null;
}
