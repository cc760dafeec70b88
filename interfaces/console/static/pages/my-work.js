// My work: the tasks assigned to the caller (user:<sub>) or to their role (role:<role>), as
// GET /me/tasks lists them; due dates and overdue tasks marked; members and above start and
// complete them (PATCH /tasks/{id}?wait=true answers once the read side shows the change, so
// the list is read again and shows it at once).

import { get, patch } from "../api.js";
import { badge, busy, field, h, link, poll, problemBox, relative, replace, select, table, time, toast } from "../ui.js";

export const title = "My work";

const OPEN = ["todo", "in_progress"];
const FILTERS = [["open", "Open (to do, in progress)"], ["todo", "To do"], ["in_progress", "In progress"],
  ["done", "Done"], ["cancelled", "Cancelled"], ["all", "All"]];
const PRIORITY_ORDER = { urgent: 0, high: 1, medium: 2, low: 3 };
// Outcomes offered for completing a task; any other word may be typed (a definition's
// condition step decides what it branches on, e.g. {{step_3.task.metadata.outcome}}).
const OUTCOMES = ["approved", "rejected", "needs_changes"];

export function isOverdue(task, now = Date.now()) {
  return Boolean(task.due_date) && OPEN.includes(task.status) && new Date(task.due_date).getTime() < now;
}

async function loadTasks(filter, signal) {
  if (filter === "open") {
    const pages = await Promise.all(OPEN.map((status) => get("/me/tasks", { status, limit: 200 }, { signal })));
    return pages.flatMap((page) => page.items);
  }
  const page = await get("/me/tasks", { status: filter === "all" ? undefined : filter, limit: 200 }, { signal });
  return page.items;
}

function sortTasks(tasks) {
  const dueKey = (t) => (t.due_date ? new Date(t.due_date).getTime() : Infinity);
  return tasks.sort((a, b) => dueKey(a) - dueKey(b)
    || (PRIORITY_ORDER[a.priority] ?? 9) - (PRIORITY_ORDER[b.priority] ?? 9)
    || a.created_at.localeCompare(b.created_at));
}

function dueCell(task) {
  if (!task.due_date) return h("span", { class: "muted" }, "no due date");
  const overdue = isOverdue(task);
  return h("span", {}, time(task.due_date), h("br"),
    overdue ? badge("overdue", `overdue ${relative(task.due_date)}`) : h("span", { class: "muted" }, relative(task.due_date)));
}

export async function render(ctx) {
  const { main, query, session, signal } = ctx;
  const filter = FILTERS.some(([v]) => v === query.get("status")) ? query.get("status") : "open";
  const mayWork = ctx.can("work");
  const message = h("div", { id: "work-problem" });
  const list = h("div", { id: "task-list", "aria-live": "polite" });
  const filterSelect = select(FILTERS, filter, { id: "task-filter" });
  filterSelect.addEventListener("change", () => ctx.navigate(filterSelect.value === "open" ? "/" : `/?status=${filterSelect.value}`));

  replace(main,
    h("h1", {}, "My work"),
    h("p", { class: "muted" }, `Tasks assigned to you (user:${session.user}) or to your role (role:${session.role}).`,
      mayWork ? "" : " Your role can read tasks but not change them."),
    h("div", { class: "row" }, field("Show", filterSelect, { name: "status" })),
    message, list);

  const completeForm = (task) => {
    const outcome = h("input", { type: "text", list: "outcomes", autocomplete: "off", "data-task": task.id });
    const note = h("input", { type: "text", autocomplete: "off" });
    const button = h("button", { type: "submit", class: "primary" }, "Complete");
    return h("form", { class: "row complete-task", "aria-label": `Complete ${task.title}`,
      onsubmit: async (event) => {
        event.preventDefault();
        const metadata = { ...task.metadata };
        if (outcome.value.trim()) metadata.outcome = outcome.value.trim();
        if (note.value.trim()) metadata.note = note.value.trim();
        replace(message);
        const done = await busy(button, () => patch(`/tasks/${task.id}`, { status: "done", metadata }, { wait: true }), message);
        if (!done) return;
        toast(`Completed “${done.title}”${metadata.outcome ? ` (${metadata.outcome})` : ""}.`);
        await refresh();
      } },
      field("Outcome", outcome, { name: "outcome" }), field("Note", note, { name: "note" }), button);
  };

  const startButton = (task) => {
    const button = h("button", { type: "button" }, "Start");
    button.addEventListener("click", async () => {
      replace(message);
      const started = await busy(button, () => patch(`/tasks/${task.id}`, { status: "in_progress" }, { wait: true }), message);
      if (started) { toast(`Started “${started.title}”.`); await refresh(); }
    });
    return button;
  };

  const columns = [
    { label: "Task", value: (t) => h("div", {}, h("strong", {}, t.title),
      t.description ? h("div", { class: "muted" }, t.description) : null,
      t.metadata?.outcome ? h("div", {}, "Outcome: ", h("strong", { class: "outcome" }, t.metadata.outcome)) : null) },
    { label: "Status", value: (t) => badge(t.status) },
    { label: "Priority", value: (t) => t.priority },
    { label: "Due", value: dueCell },
    { label: "Assigned to", value: (t) => h("span", { class: "code" }, t.assigned_to) },
    { label: "Execution", value: (t) => (t.execution_id ? link(`/executions/${t.execution_id}`, "open execution") : h("span", { class: "muted" }, "—")) },
  ];
  if (mayWork) {
    columns.push({ label: "Actions", class: "actions", value: (t) => (OPEN.includes(t.status)
      ? h("div", {}, t.status === "todo" ? startButton(t) : null, completeForm(t)) : h("span", { class: "muted" }, "—")) });
  }

  let shown = "";
  async function refresh() {
    const tasks = sortTasks(await loadTasks(filter, signal));
    // Re-render only when something changed, so a half-typed outcome is not wiped by a poll.
    const key = JSON.stringify(tasks.map((t) => [t.id, t.version]));
    if (key === shown) return;
    shown = key;
    const overdue = tasks.filter((t) => isOverdue(t)).length;
    replace(list,
      h("p", { id: "task-count" }, `${tasks.length} task${tasks.length === 1 ? "" : "s"}`,
        overdue ? [", ", badge("overdue", `${overdue} overdue`)] : null),
      table(columns, tasks, { caption: "Your tasks", empty: "No tasks here. New ones appear by themselves.",
        rowClass: (t) => (isOverdue(t) ? "overdue" : null), rowAttrs: (t) => ({ "data-task-id": t.id, "data-status": t.status }) }),
      h("datalist", { id: "outcomes" }, OUTCOMES.map((o) => h("option", { value: o }))));
  }

  // New tasks arrive as executions reach their assign_task steps: look now and again every 5 s,
  // unless the user is typing in a form of the list.
  poll(async () => {
    if (list.contains(document.activeElement) && document.activeElement.matches("input, select, textarea")) return;
    await refresh();
  }, { every: 5000, signal, onError: (error) => { shown = ""; replace(list, problemBox(error)); } });
}
