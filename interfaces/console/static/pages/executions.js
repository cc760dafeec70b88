// Executions monitor: every execution of the org, filtered by definition, status and contact
// (GET /executions?definition_id=&status=&contact_id=, steps left out), newest first, read
// again every 5 s. The filters live in the address, so a filtered view can be bookmarked.

import { get } from "../api.js";
import { badge, field, h, link, poll, problemBox, relative, replace, select, table, time } from "../ui.js";

export const title = "Executions";

export const STATUSES = ["pending", "running", "waiting", "needs_attention", "completed", "failed", "cancelled",
  "timed_out", "compensating", "compensated", "compensation_failed"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function contactName(contact) {
  if (!contact) return "";
  const name = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
  return name || contact.email || contact.id;
}

async function allDefinitions(signal) {
  const found = [];
  let cursor;
  do {
    const page = await get("/definitions", { limit: 200, cursor }, { signal });
    found.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && found.length < 1000);
  return found;
}

export async function render(ctx) {
  const { main, query, signal } = ctx;
  const filters = {
    definition_id: query.get("definition_id") || "",
    status: STATUSES.includes(query.get("status")) ? query.get("status") : "",
    contact_id: query.get("contact_id") || "",
  };
  const cursor = query.get("cursor") || undefined;
  const message = h("div");
  const list = h("div", { id: "execution-list" });

  const definitions = await allDefinitions(signal).catch((error) => { replace(message, problemBox(error)); return []; });
  const definitionNames = new Map(definitions.map((d) => [d.id, d.name]));
  const statusLabels = new Map(definitions.flatMap((d) => (d.statuses || []).map((st) => [`${d.id}:${st.id}`, st.label])));
  const definitionSelect = select([["", "Any definition"], ...definitions.map((d) => [d.id, d.name])], filters.definition_id, { name: "definition_id" });
  const statusSelect = select([["", "Any status"], ...STATUSES.map((s) => [s, s.replace(/_/g, " ")])], filters.status, { name: "status" });
  const contactInput = h("input", { type: "search", name: "contact", list: "contact-options", autocomplete: "off",
    value: filters.contact_id, placeholder: "name, email or id" });
  const contactOptions = h("datalist", { id: "contact-options" });
  let searchTimer = null;
  contactInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const q = contactInput.value.trim();
    if (q.length < 2 || UUID.test(q)) return;
    searchTimer = setTimeout(async () => {
      const page = await get("/contacts", { q, limit: 10 }, { signal }).catch(() => ({ items: [] }));
      replace(contactOptions, page.items.map((c) => h("option", { value: c.id }, `${contactName(c)}${c.email ? ` <${c.email}>` : ""}`)));
    }, 250);
  });

  const form = h("form", { class: "panel", role: "search", "aria-label": "Filter executions",
    onsubmit: async (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      if (definitionSelect.value) params.set("definition_id", definitionSelect.value);
      if (statusSelect.value) params.set("status", statusSelect.value);
      let contact = contactInput.value.trim();
      if (contact && !UUID.test(contact)) {
        const page = await get("/contacts", { q: contact, limit: 2 }, { signal }).catch(() => ({ items: [] }));
        if (page.items.length !== 1) {
          replace(message, problemBox({ message: page.items.length ? `“${contact}” matches several contacts: pick one from the list.` : `No contact matches “${contact}”.` }, "Contact not found"));
          return;
        }
        contact = page.items[0].id;
      }
      if (contact) params.set("contact_id", contact);
      ctx.navigate("/executions" + (params.toString() ? "?" + params : ""));
    } },
    h("div", { class: "row" },
      field("Definition", definitionSelect), field("Status", statusSelect), field("Contact", contactInput),
      contactOptions,
      h("button", { type: "submit", class: "primary" }, "Filter"),
      h("button", { type: "button", onclick: () => ctx.navigate("/executions") }, "Clear")));

  replace(main, h("h1", {}, "Executions"), form, message, list);

  const contacts = new Map();
  async function names(items) {
    const missing = [...new Set(items.map((e) => e.contact_id).filter((id) => id && !contacts.has(id)))];
    await Promise.all(missing.map(async (id) => {
      contacts.set(id, await get(`/contacts/${id}`, {}, { signal }).catch(() => null));
    }));
  }

  const columns = [
    { label: "Execution", value: (e) => link(`/executions/${e.id}`, e.id.slice(0, 8), { "aria-label": `Execution ${e.id}`, class: "code" }) },
    { label: "Definition", value: (e) => h("span", {}, definitionNames.get(e.definition_id) || e.definition_id,
      e.definition_version ? h("span", { class: "muted" }, ` v${e.definition_version}`) : null) },
    { label: "Status", value: (e) => badge(e.status) },
    { label: "UI status", value: (e) => (e.ui_status ? badge(e.ui_status, statusLabels.get(`${e.definition_id}:${e.ui_status}`)) : h("span", { class: "muted" }, "—")) },
    { label: "Current step", value: (e) => h("span", { class: "code" }, e.current_step_id || "—") },
    { label: "Contact", value: (e) => (e.contact_id ? link(`/executions?contact_id=${e.contact_id}`, contactName(contacts.get(e.contact_id)) || e.contact_id.slice(0, 8)) : "—") },
    { label: "Started", value: (e) => h("span", {}, time(e.started_at || e.created_at), h("br"), h("span", { class: "muted" }, relative(e.started_at || e.created_at))) },
  ];

  let shown = "";
  poll(async () => {
    const page = await get("/executions", { ...filters, include_steps: false, limit: 50, cursor }, { signal });
    // Drawn again only when something changed, so that keyboard focus in the table stays put.
    const key = JSON.stringify([page.next_cursor, page.items.map((e) => [e.id, e.version])]);
    if (key === shown) {
      list.querySelector("#execution-count")?.replaceChildren(`${page.items.length}${page.next_cursor ? "+" : ""} execution${page.items.length === 1 ? "" : "s"}, checked ${new Date().toLocaleTimeString()}`);
      return;
    }
    shown = key;
    await names(page.items);
    replace(list,
      h("p", { class: "live", id: "execution-count" }, `${page.items.length}${page.next_cursor ? "+" : ""} execution${page.items.length === 1 ? "" : "s"}, checked ${new Date().toLocaleTimeString()}`),
      table(columns, page.items, { caption: "Executions, newest first", empty: "No execution matches these filters.",
        rowAttrs: (e) => ({ "data-execution-id": e.id, "data-status": e.status }) }),
      h("nav", { class: "pager", "aria-label": "Pages" },
        cursor ? link("/executions?" + new URLSearchParams(Object.entries(filters).filter(([, v]) => v)), "First page") : null,
        page.next_cursor ? link("/executions?" + new URLSearchParams([...Object.entries(filters).filter(([, v]) => v), ["cursor", page.next_cursor]]), "Next page") : null));
  }, { every: 5000, signal, onError: (error) => { shown = ""; replace(list, problemBox(error)); } });
}
