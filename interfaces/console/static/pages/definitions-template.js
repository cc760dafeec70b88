// One template of the library (GET /templates/{key}): what it does, its drawing, and for admins
// and owners a form built from its configuration schema (a JSON schema: each property a field,
// typed, with its description, default and whether it is required) that instantiates it
// (POST /templates/{key}/instantiate). A refused setting is shown at its field.

import { ApiProblem, get, post } from "../api.js";
import { busy, field, h, json, link, markInvalid, problemBox, replace, select } from "../ui.js";
import { drawDefinition, stepList } from "./definitions-drawing.js";
import { useStyles } from "./definitions-style.js";

export const title = "Template";

/** One control for a schema property; `name` is the field path the API names in its problems. */
function control(name, schema, required) {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  const attrs = { name, "data-type": type || "string", required: required || false };
  if (Array.isArray(schema.enum)) {
    return select([...(required ? [] : [["", "—"]]), ...schema.enum.map((v) => [String(v), String(v)])],
      schema.default ?? "", attrs);
  }
  if (type === "boolean") {
    return select([...(required ? [] : [["", "—"]]), ["true", "yes"], ["false", "no"]],
      schema.default === undefined ? "" : String(schema.default), attrs);
  }
  if (type === "integer" || type === "number") {
    return h("input", { ...attrs, type: "number", step: type === "integer" ? "1" : "any",
      min: schema.minimum, max: schema.maximum, value: schema.default ?? "" });
  }
  if (type === "array" || type === "object") {
    const area = h("textarea", { ...attrs, rows: "3", spellcheck: "false" });
    area.value = schema.default === undefined ? "" : JSON.stringify(schema.default);
    return area;
  }
  return h("input", { ...attrs, type: schema.format === "email" ? "email" : "text",
    maxlength: schema.maxLength, value: schema.default ?? "", autocomplete: "off" });
}

/** The configuration the form holds: empty optional fields left out (their defaults apply),
 * numbers and booleans as such; what cannot be read is sent as typed, for the API to name. */
function configurationOf(form) {
  const configuration = {};
  for (const element of form.querySelectorAll("[name^='configuration.']")) {
    const key = element.name.slice("configuration.".length);
    const raw = element.value.trim();
    if (raw === "") continue;
    const type = element.dataset.type;
    if (type === "integer" || type === "number") configuration[key] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    else if (type === "boolean") configuration[key] = raw === "true";
    else if (type === "array" || type === "object") {
      try { configuration[key] = JSON.parse(raw); } catch { configuration[key] = raw; }
    } else configuration[key] = element.value;
  }
  return configuration;
}

export async function render(ctx) {
  const { main, params, signal } = ctx;
  useStyles();
  const template = await get(`/templates/${encodeURIComponent(params.key)}`, {}, { signal });
  ctx.setTitle(template.name);
  const schema = template.configuration_schema || {};
  const properties = Object.entries(schema.properties || {});
  const required = new Set(schema.required || []);
  const graph = h("div", { class: "graph", id: "template-graph", tabindex: "0" });

  let form = null;
  if (ctx.can("manage")) {
    const where = h("div", { id: "instantiate-outcome" });
    const name = h("input", { type: "text", name: "name", maxlength: "200", value: template.name, autocomplete: "off" });
    const submit = h("button", { type: "submit", class: "primary", id: "instantiate" }, "Create a definition from it");
    form = h("form", { class: "panel", id: "instantiate-form", "aria-labelledby": "configure-heading", novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        busy(submit, async () => {
          try {
            const made = await post(`/templates/${encodeURIComponent(template.key)}/instantiate`,
              { name: name.value.trim() || undefined, configuration: configurationOf(form) }, { wait: true, signal });
            markInvalid(form, null);
            replace(where, h("div", { class: "notice", role: "status" },
              h("p", {}, "Created, inactive until activated. ", link(`/definitions/${made.id}`, "Open the definition", { id: "open-made" })),
              made.webhook_secret ? h("p", {}, "Its webhook secret, shown this once: ",
                h("code", { class: "secret" }, made.webhook_secret)) : null));
          } catch (error) {
            if (error instanceof ApiProblem) markInvalid(form, error);
            throw error;
          }
        }, where);
      } },
    h("h2", { id: "configure-heading" }, "Configure and create"),
    field("Name of the new definition", name),
    properties.length
      ? properties.map(([key, property]) => field(
        `${property.title || key.charAt(0).toUpperCase() + key.slice(1).replace(/_/g, " ")}${required.has(key) ? " (required)" : ""}`,
        control(`configuration.${key}`, property, required.has(key)),
        { hint: [property.description, property.default !== undefined ? `Default: ${JSON.stringify(property.default)}.` : null].filter(Boolean).join(" ") }))
      : h("p", { class: "muted" }, "It asks for no settings."),
    h("div", { class: "row" }, submit),
    where);
  }

  replace(main,
    h("p", {}, link("/definitions", "← Definitions and templates")),
    h("h1", {}, template.name),
    h("p", {}, template.description),
    h("dl", { class: "facts" },
      h("dt", {}, "Key"), h("dd", {}, h("code", {}, template.key)),
      h("dt", {}, "Category"), h("dd", {}, template.category),
      h("dt", {}, "Tags"), h("dd", {}, template.tags.map((t) => h("span", { class: "tag" }, t)))),
    form || h("p", { class: "muted" }, "Admins and owners can make a definition from this template."),
    h("section", { "aria-labelledby": "template-steps-heading" },
      h("h2", { id: "template-steps-heading" }, "Its steps (with the example configuration)"),
      h("div", { class: "drawing-layout" }, graph, stepList(template.definition))),
    json(template.configuration_example, "Example configuration"),
    json(template.definition, "The definition it makes"));
  await drawDefinition(graph, template.definition);
}
