// The definition editor (admins and owners): JSON in a plain textarea, drawn as it is typed, then
// sent as a new definition (POST /definitions) or a new version (PUT /definitions/{id}). When the
// API refuses it (422), each problem is shown at the step it names: marked in the drawing, in the
// step list, and in the list beside the editor, whose entries move the cursor to that step.

import { ApiProblem, get, post, put } from "../api.js";
import { h, link, problemBox, replace, toast } from "../ui.js";
import { drawDefinition, problemsByStep, stepList } from "./definitions-drawing.js";
import { useStyles } from "./definitions-style.js";

export const title = "Definition editor";

const STARTER = {
  name: "Applicant Onboarding",
  description: "A form starts it; a reviewer decides; the applicant hears the outcome.",
  statuses: [{ id: "approved", label: "Approved" }, { id: "rejected", label: "Rejected" }],
  steps: [
    { id: "form", type: "trigger", name: "Form submitted",
      config: { type: "form_submission", contact: { first_name: "{{payload.first_name}}", email: "{{payload.email}}" } } },
    { id: "review", type: "assign_task", name: "Review",
      config: { title: "Review {{contact.first_name}}'s application", assign_to: "role:admin", due_date: "{{now + 3 days}}" } },
    { id: "wait_review", type: "wait_for_task", name: "Wait for the review",
      config: { task_from_step: "review", timeout_days: 7, on_timeout: "send_reminder" } },
    { id: "outcome", type: "condition", name: "Outcome",
      config: { field: "{{wait_review.task.metadata.outcome}}", branches: [{ if: "approved", then_goto: "approved" }], default: "rejected" } },
    { id: "approved", type: "update_status", name: "Approved", next: "end", config: { status: "approved" } },
    { id: "rejected", type: "update_status", name: "Rejected", config: { status: "rejected" } },
  ],
};

/** The body the API takes, from a definition as GET answers it. */
function editable(definition) {
  const body = { name: definition.name };
  if (definition.description) body.description = definition.description;
  body.statuses = definition.statuses || [];
  body.steps = definition.steps || [];
  return body;
}

/** Select the step `stepId` in the textarea (its `"id": "<stepId>"`) and scroll to it. */
function showStep(textarea, stepId) {
  const escaped = JSON.stringify(String(stepId)).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const found = new RegExp(`"id"\\s*:\\s*${escaped}`).exec(textarea.value);
  textarea.focus();
  if (!found) return;
  textarea.setSelectionRange(found.index, found.index + found[0].length);
  const line = textarea.value.slice(0, found.index).split("\n").length - 1;
  const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
  textarea.scrollTop = Math.max(0, line * lineHeight - textarea.clientHeight / 3);
}

/** JSON.parse's complaint, with the line and column it points at. */
function parseProblem(text, error) {
  const message = String(error.message || error);
  const at = /position (\d+)/.exec(message);
  if (!at) return message;
  const before = text.slice(0, Number(at[1])).split("\n");
  return `${message.replace(/ in JSON at position \d+.*$/, "")} (line ${before.length}, column ${before.at(-1).length + 1})`;
}

export async function render(ctx) {
  const { main, params, query, signal } = ctx;
  useStyles();
  const id = params.id || null;
  let base = STARTER;
  let heading = "New definition";
  if (id) {
    const version = /^[1-9][0-9]{0,8}$/.test(query.get("version") || "") ? query.get("version") : undefined;
    const definition = await get(`/definitions/${id}`, { version }, { signal });
    base = editable(definition);
    heading = `New version of ${definition.name}`;
    ctx.setTitle(heading);
  }

  const textarea = h("textarea", { id: "definition-json", name: "definition", spellcheck: "false",
    autocapitalize: "off", autocomplete: "off", "aria-describedby": "definition-json-hint definition-problems" });
  textarea.value = JSON.stringify(base, null, 2);
  const graph = h("div", { class: "graph", id: "editor-graph", tabindex: "0" });
  const steps = h("div", { id: "editor-steps" });
  const problems = h("div", { id: "definition-problems", "aria-live": "polite" });
  const outcome = h("div", { id: "definition-outcome" });
  const submit = h("button", { type: "submit", class: "primary", id: "save-definition" }, id ? "Publish new version" : "Create definition");
  let latest = { definition: null, byStep: new Map() };

  const redraw = async (definition, byStep = new Map()) => {
    latest = { definition, byStep };
    replace(steps, stepList(definition, byStep, { withProblems: true }));
    await drawDefinition(graph, definition, new Set(byStep.keys()), { onStep: (stepId) => showStep(textarea, stepId) });
  };

  const showProblems = (definition, error) => {
    const { byStep, general } = problemsByStep(definition, error.errors);
    const count = error.errors.length || 1;
    replace(problems,
      h("div", { class: "problem", role: "alert", "data-status": error.status },
        h("h2", {}, `${count} problem${count === 1 ? "" : "s"}: ${error.title}`),
        error.errors.length ? null : h("p", {}, error.detail),
        general.length ? h("ul", { class: "problems-list" }, general.map((p) => h("li", { "data-field": p.field },
          p.field ? [h("code", {}, p.field), ": "] : null, p.message))) : null,
        byStep.size ? h("ul", { class: "problems-list", "data-testid": "step-problems" }, [...byStep].map(([stepId, list]) =>
          h("li", { "data-step": stepId },
            h("button", { type: "button", class: "as-link", onclick: () => showStep(textarea, stepId) }, `Step ${stepId}`),
            h("ul", {}, list.map((p) => h("li", { "data-field": p.field },
              p.inStep ? [h("code", {}, p.inStep), ": "] : null, p.message)))))) : null));
    return byStep;
  };

  let typing = null;
  textarea.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      try {
        const definition = JSON.parse(textarea.value);
        textarea.removeAttribute("aria-invalid");
        redraw(definition, latest.byStep);
      } catch {
        // Told on submit; while typing, half-written JSON is normal.
      }
    }, 400);
  });

  const form = h("form", { id: "definition-form", "aria-labelledby": "editor-heading",
    onsubmit: async (event) => {
      event.preventDefault();
      // The submit redraws; a redraw still pending from the typing would replace that drawing
      // under the reader's focus (and under a keyboard user's selected step).
      clearTimeout(typing);
      replace(outcome);
      let definition;
      try {
        definition = JSON.parse(textarea.value);
      } catch (error) {
        textarea.setAttribute("aria-invalid", "true");
        replace(problems, problemBox({ message: parseProblem(textarea.value, error) }, "The definition is not valid JSON"));
        return;
      }
      textarea.removeAttribute("aria-invalid");
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      try {
        const saved = id
          ? await put(`/definitions/${id}`, definition, { wait: true, signal })
          : await post("/definitions", definition, { wait: true, signal });
        replace(problems);
        await redraw(definition);
        const savedId = saved.id || id;
        toast(id ? `Version ${saved.current_version ?? saved.version ?? ""} published.` : "Definition created.");
        replace(outcome, h("div", { class: "notice", role: "status" },
          h("p", {}, id ? `Published version ${saved.current_version ?? saved.version ?? ""}. ` : "Created, inactive until activated. ",
            link(`/definitions/${savedId}`, "Open the definition", { id: "open-saved" })),
          saved.webhook_secret ? h("p", {}, "Its webhook secret, shown this once (senders sign with it): ",
            h("code", { class: "secret", "data-testid": "webhook-secret" }, saved.webhook_secret)) : null));
      } catch (error) {
        if (error?.name === "AbortError") return;
        if (error instanceof ApiProblem && error.status === 422) {
          const byStep = showProblems(definition, error);
          await redraw(definition, byStep);
        } else {
          replace(problems, problemBox(error));
        }
      } finally {
        submit.disabled = false;
        submit.removeAttribute("aria-busy");
      }
    } },
  h("div", { class: "editor-layout" },
    h("div", { class: "field" },
      h("label", { for: "definition-json" }, "Definition (JSON)"),
      textarea,
      h("span", { class: "hint", id: "definition-json-hint" },
        "Tab moves to the next control; the drawing follows what you type. Format: docs/contract.md, Workflow definitions.")),
    h("div", {},
      h("h2", {}, "Problems"),
      problems.childNodes.length ? null : h("p", { class: "muted", id: "no-problems" }, "None reported yet: the API checks the definition when you send it."),
      problems,
      h("div", { class: "row" }, submit, link(id ? `/definitions/${id}` : "/definitions", "Cancel", { class: "button" })),
      outcome)));

  // The hint goes once the first answer is in.
  new MutationObserver(() => main.querySelector("#no-problems")?.remove()).observe(problems, { childList: true });

  replace(main,
    h("p", {}, link(id ? `/definitions/${id}` : "/definitions", id ? "← The definition" : "← Definitions")),
    h("h1", { id: "editor-heading" }, heading),
    form,
    h("section", { "aria-labelledby": "editor-drawing-heading" },
      h("h2", { id: "editor-drawing-heading" }, "Drawing"),
      graph,
      steps));
  await redraw(base);
}
