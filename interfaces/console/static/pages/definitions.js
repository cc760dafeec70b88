// Definitions: the org's workflow definitions (GET /definitions, filtered by is_active, paged by
// cursor) and the template library (GET /templates, by category and tag). Admins and owners get
// the ways to make one: a new definition in the editor, or a template instantiated.

import { get } from "../api.js";
import { badge, field, h, link, problemBox, replace, select, table, time } from "../ui.js";
import { useStyles } from "./definitions-style.js";

export const title = "Definitions";

/** "active (v2)" / "inactive" for a definition summary. */
export function activeBadge(definition) {
  return definition.is_active
    ? badge("active", `active · v${definition.active_version ?? definition.current_version}`)
    : badge("inactive", "inactive");
}

async function definitionsSection(ctx) {
  const { query, signal } = ctx;
  const active = ["true", "false"].includes(query.get("is_active")) ? query.get("is_active") : "";
  const cursor = query.get("cursor") || undefined;
  const activeSelect = select([["", "Any"], ["true", "Active"], ["false", "Inactive"]], active, { name: "is_active" });
  const form = h("form", { class: "panel row", role: "search", "aria-label": "Filter definitions",
    onsubmit: (event) => {
      event.preventDefault();
      ctx.navigate("/definitions" + (activeSelect.value ? `?is_active=${activeSelect.value}` : ""));
    } },
  field("Active", activeSelect), h("div", { class: "field" }, h("button", { type: "submit" }, "Filter")));
  const list = h("div", { id: "definition-list" });
  try {
    const page = await get("/definitions", { is_active: active, cursor, limit: 50 }, { signal });
    replace(list,
      table([
        { label: "Name", value: (d) => link(`/definitions/${d.id}`, d.name || d.id) },
        { label: "Status", value: activeBadge },
        { label: "Versions", value: (d) => String(d.current_version ?? "—") },
        { label: "Description", value: (d) => d.description || "" },
        { label: "Changed", value: (d) => time(d.updated_at) },
      ], page.items, { caption: "Definitions", empty: "No definitions match." }),
      page.next_cursor || cursor
        ? h("p", { class: "pager" },
          cursor ? link("/definitions" + (active ? `?is_active=${active}` : ""), "First page") : null,
          cursor && page.next_cursor ? " · " : null,
          page.next_cursor
            ? link(`/definitions?${new URLSearchParams({ ...(active ? { is_active: active } : {}), cursor: page.next_cursor })}`, "Next page")
            : null)
        : null);
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    replace(list, problemBox(error, "The definitions could not be read"));
  }
  return [form, list];
}

async function templatesSection(ctx) {
  const { query, signal } = ctx;
  const category = query.get("category") || "";
  const tag = query.get("tag") || "";
  const box = h("div", { id: "template-list" });
  let all = [];
  try {
    all = (await get("/templates", {}, { signal })).items;
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    return [problemBox(error, "The templates could not be read")];
  }
  const categories = [...new Set(all.map((t) => t.category))].sort();
  const tags = [...new Set(all.flatMap((t) => t.tags))].sort();
  const categorySelect = select([["", "Any category"], ...categories], category, { name: "category" });
  const tagSelect = select([["", "Any tag"], ...tags], tag, { name: "tag" });
  const shown = await get("/templates", { category, tag: tag ? [tag] : undefined }, { signal })
    .then((page) => page.items)
    .catch((error) => { if (error?.name === "AbortError") throw error; replace(box, problemBox(error)); return []; });
  const form = h("form", { class: "panel row", role: "search", "aria-label": "Filter templates",
    onsubmit: (event) => {
      event.preventDefault();
      const params = new URLSearchParams(query);
      params.delete("cursor");
      for (const [name, control] of [["category", categorySelect], ["tag", tagSelect]]) {
        if (control.value) params.set(name, control.value);
        else params.delete(name);
      }
      ctx.navigate("/definitions" + (params.toString() ? "?" + params : ""));
    } },
  field("Category", categorySelect), field("Tag", tagSelect),
  h("div", { class: "field" }, h("button", { type: "submit" }, "Filter templates")));
  replace(box, table([
    { label: "Template", value: (t) => link(`/definitions/templates/${encodeURIComponent(t.key)}`, t.name) },
    { label: "Category", value: (t) => t.category },
    { label: "Tags", value: (t) => h("span", {}, t.tags.map((name) => h("span", { class: "tag" }, name, " "))) },
    { label: "Asks for", value: (t) => t.required_configuration.length ? t.required_configuration.join(", ") : "nothing" },
    { label: "What it does", value: (t) => t.description },
  ], shown, { caption: "Templates", empty: "No template matches." }));
  return [form, box];
}

export async function render(ctx) {
  const { main } = ctx;
  useStyles();
  const manage = ctx.can("manage");
  replace(main,
    h("div", { class: "page-head" },
      h("h1", {}, "Definitions"),
      manage ? h("p", {}, link("/definitions/new", "New definition", { class: "button primary", id: "new-definition" })) : null),
    h("section", { "aria-labelledby": "definitions-heading" },
      h("h2", { id: "definitions-heading", class: "visually-hidden" }, "Definitions of the org"),
      await definitionsSection(ctx)),
    h("section", { "aria-labelledby": "templates-heading" },
      h("h2", { id: "templates-heading" }, "Templates"),
      h("p", { class: "muted" }, manage
        ? "Ready-made definitions: open one to see what it asks for and make it yours."
        : "Ready-made definitions an admin can make into the org's own."),
      await templatesSection(ctx)));
}
