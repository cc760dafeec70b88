// A definition's steps as Mermaid flowchart text, and the step a validation problem names.
//
// The drawing follows the engine's flow rules (docs/contract.md, "Workflow definitions"): steps
// run by `order` when given, else in list order; a condition jumps to its branches' `then_goto`
// (else its `default`, else the next step); `next` jumps after a step; waits go to their
// `on_timeout` step; `on_failure` may name a step; `end` finishes the run (or the branch).
// Parallel branches and for_each bodies are subgraphs. It is written by hand because Mermaid
// draws but does not know this format, and it must cope with the half-typed JSON of an editor:
// anything malformed is drawn as far as it can be, never thrown.

const END = "__end";

/** Mermaid label text: quotes and markup escaped, kept short. */
function label(text) {
  const clean = String(text ?? "")
    .replace(/\s+/g, " ")
    .slice(0, 60);
  // One pass, as numeric entities Mermaid decodes (`#34;`): a character that is markup or
  // Mermaid syntax never reaches either as such; `#` itself too, so no text spells an entity.
  return clean.replace(/[&"<>[\]{}()|`;#]/g, (c) => `#${c.charCodeAt(0)};`);
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Steps in the order they run: by `order` when every one has a number, else as listed. */
function runOrder(steps) {
  const list = (Array.isArray(steps) ? steps : []).filter(isObject);
  if (list.length && list.every((s) => typeof s.order === "number")) {
    return list
      .map((s, i) => [s, i])
      .sort((a, b) => a[0].order - b[0].order || a[1] - b[1])
      .map(([s]) => s);
  }
  return list;
}

class Drawing {
  constructor(problemSteps) {
    this.lines = []; // nodes and subgraphs
    this.edges = []; // drawn after every node, so no edge pulls a node into a subgraph
    this.nodes = new Map(); // step id -> node id
    this.count = 0;
    this.problemSteps = problemSteps;
    this.missing = new Map(); // unknown target -> node id
    this.problemNodes = [];
    this.compensationNodes = [];
  }

  node(stepId) {
    const key = String(stepId);
    if (!this.nodes.has(key)) this.nodes.set(key, `s${this.count++}`);
    return this.nodes.get(key);
  }

  fresh(prefix) {
    return `${prefix}${this.count++}`;
  }

  /** Declare every step (nested ones too) first, so a jump forward finds its node. */
  declare(steps) {
    for (const step of Array.isArray(steps) ? steps : []) {
      if (!isObject(step) || step.id == null) continue;
      this.node(step.id);
      const config = isObject(step.config) ? step.config : {};
      if (step.type === "parallel" && Array.isArray(config.branches)) {
        for (const branch of config.branches) if (isObject(branch)) this.declare(branch.steps);
      }
      if (step.type === "for_each") this.declare(config.steps);
    }
  }

  target(name, exit, known) {
    if (name === "end") return exit;
    if (typeof name !== "string" || !name) return null;
    if (known.has(name)) return this.node(name);
    if (!this.missing.has(name)) {
      const id = this.fresh("missing");
      this.missing.set(name, id);
      this.edges.push(`  ${id}{{"${label(`missing step: ${name}`)}"}}`);
      this.problemNodes.push(id);
    }
    return this.missing.get(name);
  }

  edge(from, to, text, style = "-->") {
    if (!to) return;
    if (text) {
      const arrow = style === "-.->" ? `-. "${label(text)}" .->` : `-- "${label(text)}" -->`;
      this.edges.push(`  ${from} ${arrow} ${to}`);
    } else {
      this.edges.push(`  ${from} ${style} ${to}`);
    }
  }

  shape(step) {
    const id = this.node(step.id);
    const type = typeof step.type === "string" ? step.type : "?";
    const name = step.name ?? step.id;
    const parked = step.on_failure === "park" ? " · parks on failure" : "";
    const text = label(`${name}`) + "<br/><small>" + label(`${type}${parked}`) + "</small>";
    if (type === "trigger") return `  ${id}(["${text}"])`;
    if (type === "condition") return `  ${id}{"${text}"}`;
    if (type === "parallel" || type === "for_each") return `  ${id}[["${text}"]]`;
    if (type.startsWith("wait_for") || type === "delay" || type === "reminder") {
      return `  ${id}[/"${text}"/]`;
    }
    return `  ${id}["${text}"]`;
  }

  /** Draw `steps` (one level); falling off the end or `end` goes to `exit`. */
  sequence(steps, exit, known, indent = "") {
    const ordered = runOrder(steps).filter((s) => s.id != null);
    ordered.forEach((step, index) => {
      const id = this.node(step.id);
      this.lines.push(indent + this.shape(step));
      if (this.problemSteps.has(String(step.id))) this.problemNodes.push(id);
      const following = index + 1 < ordered.length ? this.node(ordered[index + 1].id) : exit;
      const config = isObject(step.config) ? step.config : {};
      let after = following;

      if (step.type === "parallel") after = this.parallel(step, config, following, known);
      if (step.type === "for_each") after = this.forEach(step, config, following, known);

      if (step.type === "condition") {
        const branches = Array.isArray(config.branches) ? config.branches : [];
        for (const branch of branches) {
          if (!isObject(branch)) continue;
          this.edge(id, this.target(branch.then_goto, exit, known), `if ${branch.if}`);
        }
        if (config.default != null) {
          this.edge(id, this.target(config.default, exit, known), "default");
        } else {
          this.edge(id, following, "no match");
        }
      } else if (step.next != null) {
        this.edge(after.from ?? id, this.target(step.next, exit, known));
      } else {
        this.edge(after.from ?? id, after.to ?? following);
      }

      const timeout = config.on_timeout;
      if (typeof timeout === "string" && !["send_reminder", "fail", "continue"].includes(timeout)) {
        this.edge(id, this.target(timeout, exit, known), "timeout", "-.->");
      }
      const failure = step.on_failure;
      if (typeof failure === "string" && !["fail", "continue", "park"].includes(failure)) {
        this.edge(id, this.target(failure, exit, known), "on failure", "-.->");
      }
      const undo = Array.isArray(step.compensate)
        ? step.compensate
        : isObject(step.compensate)
          ? [step.compensate]
          : [];
      undo.filter(isObject).forEach((item, n) => {
        const undoId = this.fresh("undo");
        const name = item.name ?? `Undo ${step.name ?? step.id}`;
        const text = label(name) + "<br/><small>" + label(`${item.type ?? "?"} · compensation`) + "</small>";
        this.lines.push(`${indent}  ${undoId}["${text}"]`);
        this.compensationNodes.push(undoId);
        this.edge(id, undoId, n === 0 ? "undo" : "", "-.->");
      });
    });
    return ordered.length ? this.node(ordered[0].id) : exit;
  }

  parallel(step, config, following, known) {
    const id = this.node(step.id);
    const join = this.fresh("join");
    this.lines.push(`  ${join}(("${label(`join: ${config.join ?? "all"}`)}"))`);
    const branches = Array.isArray(config.branches) ? config.branches.filter(isObject) : [];
    branches.forEach((branch, n) => {
      const box = this.fresh("branch");
      this.lines.push(`  subgraph ${box}["${label(`branch ${branch.name ?? n + 1}`)}"]`);
      this.lines.push("  direction TB");
      const first = this.sequence(branch.steps, join, known, "  ");
      this.lines.push("  end");
      this.edge(id, first);
    });
    return { from: join, to: following };
  }

  forEach(step, config, following, known) {
    const id = this.node(step.id);
    const box = this.fresh("loop");
    this.lines.push(`  subgraph ${box}["${label("for each item")}"]`);
    this.lines.push("  direction TB");
    const first = this.sequence(config.steps, id, known, "  ");
    this.lines.push("  end");
    if (first !== id) this.edge(id, first, "each item");
    return { from: id, to: following };
  }
}

/** Every step id of a definition, nested steps included. */
export function stepIds(definition) {
  const ids = new Set();
  const walk = (steps) => {
    for (const step of Array.isArray(steps) ? steps : []) {
      if (!isObject(step)) continue;
      if (step.id != null) ids.add(String(step.id));
      const config = isObject(step.config) ? step.config : {};
      if (step.type === "parallel" && Array.isArray(config.branches)) {
        for (const branch of config.branches) if (isObject(branch)) walk(branch.steps);
      }
      if (step.type === "for_each") walk(config.steps);
    }
  };
  walk(isObject(definition) ? definition.steps : []);
  return ids;
}

/**
 * Mermaid flowchart text for `definition`.
 * `problemSteps`: step ids to mark as having a problem.
 * Answers {text, nodes}: `nodes` maps each step id to its Mermaid node id.
 */
export function definitionGraph(definition, problemSteps = new Set()) {
  const drawing = new Drawing(new Set([...problemSteps].map(String)));
  const steps = isObject(definition) && Array.isArray(definition.steps) ? definition.steps : [];
  const known = stepIds(definition);
  drawing.declare(steps);
  drawing.lines.push(`  ${END}(("end"))`);
  const first = drawing.sequence(steps, END, known);
  const header = ["flowchart TD"];
  if (!steps.length || first === END) drawing.lines.push(`  start(("no steps")) --> ${END}`);
  drawing.lines.push(...drawing.edges);
  drawing.lines.push("  classDef problem fill:#fde2e1,stroke:#b3261e,stroke-width:3px,color:#5c0d0a");
  drawing.lines.push("  classDef undo fill:#f4f4f4,stroke:#777,stroke-dasharray:4 3");
  if (drawing.problemNodes.length) {
    drawing.lines.push(`  class ${[...new Set(drawing.problemNodes)].join(",")} problem`);
  }
  if (drawing.compensationNodes.length) {
    drawing.lines.push(`  class ${drawing.compensationNodes.join(",")} undo`);
  }
  return { text: header.concat(drawing.lines).join("\n"), nodes: drawing.nodes };
}

/**
 * The step a problem's field path names, e.g. `steps[3].config.branches[1].steps[0].config.title`
 * names the first step of the parallel step's second branch. The API also says `step_id` for
 * definitions; this is for problems without one (and checks that one against the body).
 * Answers {stepId, field} (field: the rest of the path inside that step) or null.
 */
export function stepAtPath(definition, path) {
  if (typeof path !== "string") return null;
  const parts = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m;
  while ((m = re.exec(path)) !== null) parts.push(m[1] !== undefined ? m[1] : Number(m[2]));
  if (parts[0] === "body") parts.shift();
  let value = definition;
  let found = null;
  for (let i = 0; i < parts.length; i += 1) {
    if (value === null || value === undefined) break;
    value = value[parts[i]];
    const previous = parts[i - 1];
    if (typeof parts[i] === "number" && previous === "steps" && isObject(value) && value.id != null) {
      found = { stepId: String(value.id), field: parts.slice(i + 1).join(".").replace(/\.(\d+)/g, "[$1]") };
    }
  }
  return found;
}
