// The few styles the definitions, audit and projections pages add to console.css: the editor
// beside its problems, the drawing, step problems, links shown as buttons, figures. Adopted once
// as a constructed style sheet, so these pages keep their looks in their own modules.

const CSS = `
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.page-head { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: .5rem 1rem; }
.page-head h1 { margin-bottom: .25rem; }
a.button { display: inline-block; padding: .4rem .8rem; border-radius: 6px; border: 1px solid #888; text-decoration: none; color: inherit; background: #f6f6f6; }
a.button.primary { background: #1f5fbf; border-color: #1f5fbf; color: #fff; }
a.button:focus-visible, .graph:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.tag { display: inline-block; padding: 0 .4rem; margin: 0 .2rem .2rem 0; border-radius: 4px; background: #eef1f6; font-size: .85em; }
.graph { overflow: auto; border: 1px solid #d4d8de; border-radius: 8px; padding: .5rem; background: #fff; min-height: 6rem; max-height: 56rem; text-align: center; }
.graph svg { height: auto; }
.graph g.node[role=button]:focus { outline: none; }
.graph g.node[role=button]:focus-visible > :is(rect, polygon, circle, path) { stroke: #f0a500 !important; stroke-width: 4px !important; }
.drawing-layout { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; align-items: start; }
@media (max-width: 1000px) { .drawing-layout { grid-template-columns: minmax(0, 1fr); } }
.editor-layout { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1rem; align-items: start; }
@media (max-width: 1000px) { .editor-layout { grid-template-columns: minmax(0, 1fr); } }
.editor-layout textarea { width: 100%; min-height: 30rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; line-height: 1.35; tab-size: 2; box-sizing: border-box; }
.problems-list { margin: .25rem 0 0; padding-left: 1.1rem; }
.problems-list li { margin: .25rem 0; }
.problems-list button.as-link { background: none; border: none; padding: 0; color: #1f5fbf; text-decoration: underline; cursor: pointer; font: inherit; }
tr.has-problem td { background: #fde2e1; }
ul.step-problems { margin: 0; padding-left: 1rem; color: #5c0d0a; }
.stats { display: flex; flex-wrap: wrap; gap: .75rem; margin: .5rem 0 1rem; }
.stats > div { border: 1px solid #d4d8de; border-radius: 8px; padding: .5rem .75rem; min-width: 8rem; background: #fff; }
.stats .figure { display: block; font-size: 1.4rem; font-weight: 600; }
.versions { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; margin: .25rem 0 1rem; }
.versions a[aria-current="page"] { font-weight: 700; text-decoration: none; border-bottom: 3px solid #1f5fbf; }
.secret { font-family: ui-monospace, monospace; word-break: break-all; background: #fff8e1; padding: .25rem .5rem; border-radius: 4px; }
.tabs { display: flex; flex-wrap: wrap; gap: .25rem; list-style: none; padding: 0; margin: 0 0 1rem; border-bottom: 1px solid #d4d8de; }
.tabs a { display: inline-block; padding: .4rem .8rem; text-decoration: none; border: 1px solid transparent; border-bottom: none; border-radius: 6px 6px 0 0; }
.tabs a[aria-current="page"] { border-color: #d4d8de; background: #fff; font-weight: 600; }
table.events td { vertical-align: top; }
table.events pre.json { margin: 0; max-height: 14rem; overflow: auto; font-size: .8rem; }
.progress { width: 12rem; }
.wide-field input { min-width: 22rem; }
.table-scroll { overflow-x: auto; }
table.events td.data { min-width: 14rem; }
`;

let adopted = false;

export function useStyles() {
  if (adopted) return;
  adopted = true;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}
