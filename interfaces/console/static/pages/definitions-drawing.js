// Drawing a definition's steps with the vendored Mermaid (vendor/mermaid.min.js, loaded on first
// use so pages without a drawing never pay for its 3.5 MB), and the step list that goes with it:
// the same steps as text, for keyboard and screen reader users, with their problems beside them.

import { definitionGraph, stepAtPath } from "./graph.js";
import { h, replace } from "../ui.js";

let loading = null;

/** The global `mermaid`, once its script has run. */
export function loadMermaid() {
  if (globalThis.mermaid) return Promise.resolve(globalThis.mermaid);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/console/static/vendor/mermaid.min.js";
      script.onload = () => {
        globalThis.mermaid.initialize({
          startOnLoad: false,
          securityLevel: "strict",
          theme: "neutral",
          flowchart: { htmlLabels: true, curve: "basis" },
        });
        resolve(globalThis.mermaid);
      };
      script.onerror = () => {
        loading = null;
        reject(new Error("The drawing library (vendor/mermaid.min.js) could not be loaded."));
      };
      document.head.append(script);
    });
  }
  return loading;
}

let drawings = 0;

/**
 * Draw `definition` into `container`; steps in `problemSteps` (a Set of ids) are marked.
 * The drawing is an image to assistive technology (its text alternative is the step list),
 * unless `onStep` is given: then each step's box is a button (click, Enter or Space) that calls
 * `onStep(stepId)`.
 */
export async function drawDefinition(container, definition, problemSteps = new Set(), { onStep } = {}) {
  const { text, nodes } = definitionGraph(definition, problemSteps);
  container.dataset.graph = text;
  try {
    const mermaid = await loadMermaid();
    const { svg } = await mermaid.render(`definition-graph-${++drawings}`, text);
    // Mermaid's own output, sanitised by it (securityLevel "strict"); every label in `text` was
    // escaped by graph.js, so no text from the definition becomes markup.
    container.innerHTML = svg;
    const drawn = container.querySelector("svg");
    if (drawn) {
      drawn.setAttribute("role", onStep ? "group" : "img");
      drawn.setAttribute("aria-label", `Drawing of the steps of ${definition?.name || "the definition"}; the step list describes them.`);
    }
    if (onStep) {
      const stepOf = new Map([...nodes].map(([stepId, nodeId]) => [nodeId, stepId]));
      for (const box of container.querySelectorAll("g.node")) {
        // Mermaid names a step's box "<drawing>-flowchart-<node id>-<n>".
        const stepId = stepOf.get(/-flowchart-(.+)-\d+$/.exec(box.id)?.[1]);
        if (stepId === undefined) continue;
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "button");
        box.setAttribute("aria-label", `Step ${stepId}: show it in the editor`);
        box.dataset.step = stepId;
        box.style.cursor = "pointer";
        box.addEventListener("click", () => onStep(stepId));
        box.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            onStep(stepId);
          }
        });
      }
    }
    container.dataset.drawn = "true";
  } catch (error) {
    replace(container, h("p", { class: "muted" }, `No drawing: ${error?.message || error}`));
    container.dataset.drawn = "false";
  }
}

function* walk(steps, within) {
  for (const step of Array.isArray(steps) ? steps : []) {
    if (!step || typeof step !== "object") continue;
    yield { step, within };
    const config = step.config && typeof step.config === "object" ? step.config : {};
    if (step.type === "parallel" && Array.isArray(config.branches)) {
      for (const branch of config.branches) {
        if (branch && typeof branch === "object") yield* walk(branch.steps, `${step.id} · branch ${branch.name ?? "?"}`);
      }
    }
    if (step.type === "for_each") yield* walk(config.steps, `${step.id} · each item`);
  }
}

/** Where control goes after a step, in words. */
function goesTo(step) {
  const config = step.config && typeof step.config === "object" ? step.config : {};
  const parts = [];
  if (step.type === "condition") {
    for (const branch of Array.isArray(config.branches) ? config.branches : []) {
      if (branch && typeof branch === "object") parts.push(`if ${branch.if} → ${branch.then_goto}`);
    }
    if (config.default != null) parts.push(`default → ${config.default}`);
  }
  if (step.next != null) parts.push(`next → ${step.next}`);
  if (typeof config.on_timeout === "string") parts.push(`timeout → ${config.on_timeout}`);
  if (typeof step.on_failure === "string") parts.push(`failure → ${step.on_failure}`);
  if (step.compensate) parts.push("undo defined");
  return parts.length ? parts.join("; ") : h("span", { class: "muted" }, step.type === "parallel" || step.type === "for_each" ? "its steps, then the next step" : "the next step");
}

/**
 * Group a problem document's `errors` by the step they name: `step_id` when the API gives it,
 * else the step the field path points at. Answers {byStep: Map(stepId → [{field, message}]),
 * general: [{field, message}]}.
 */
export function problemsByStep(definition, errors) {
  const byStep = new Map();
  const general = [];
  for (const error of errors || []) {
    const found = stepAtPath(definition, error.field);
    const stepId = error.step_id ?? found?.stepId ?? null;
    const entry = { field: error.field || "", inStep: found?.field || "", message: error.message || "" };
    if (stepId === null) general.push(entry);
    else {
      if (!byStep.has(String(stepId))) byStep.set(String(stepId), []);
      byStep.get(String(stepId)).push(entry);
    }
  }
  return { byStep, general };
}

/** The steps as a table: id, type, name, where they go, and (`withProblems`, the editor's)
 * each step's problems. */
export function stepList(definition, byStep = new Map(), { withProblems = false } = {}) {
  const rows = [...walk(definition?.steps, null)];
  if (!rows.length) return h("p", { class: "muted" }, "No steps.");
  return h("table", { class: "steps", "data-testid": "step-list" },
    h("caption", {}, "Steps"),
    h("thead", {}, h("tr", {}, ["Step", "Type", "Name", "Goes to", withProblems ? "Problems" : null].filter(Boolean).map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map(({ step, within }) => {
      const problems = byStep.get(String(step.id)) || [];
      return h("tr", { class: problems.length ? "has-problem" : null, "data-step": String(step.id ?? "") },
        h("td", {}, h("code", {}, String(step.id ?? "?")), within ? h("div", { class: "muted" }, `in ${within}`) : null),
        h("td", {}, String(step.type ?? "?"), step.on_failure === "park" ? h("div", { class: "muted" }, "parks on failure") : null),
        h("td", {}, String(step.name ?? "")),
        h("td", {}, goesTo(step)),
        withProblems ? h("td", {}, problems.length
          ? h("ul", { class: "step-problems" }, problems.map((p) => h("li", {},
            p.inStep ? [h("code", {}, p.inStep), ": "] : null, p.message)))
          : h("span", { class: "muted" }, "none")) : null);
    })));
}
