// The console's pages. Each entry:
//   path    the route below /console, with :name parameters ("/executions/:id")
//   module  the page module, relative to this file (it exports `title` and `render(ctx)`)
//   label   the main navigation's text (omit for pages reached by links only)
//   roles   who may open it: "read" (every role), "work" (members and above), "manage"
//           (admins and owners), or a list of roles (["owner", "admin"])
//   public  true for pages shown without a token (sign-in)
// Order matters twice: the navigation lists labelled pages in this order, and the first path
// that matches wins (put "/executions/:id" after "/executions").
export const pages = [
  { path: "/sign-in", module: "./sign-in.js", public: true },
  { path: "/", module: "./my-work.js", label: "My work", roles: "read" },
  { path: "/executions", module: "./executions.js", label: "Executions", roles: "read" },
  { path: "/executions/:id", module: "./execution.js", roles: "read" },
  { path: "/definitions", module: "./definitions.js", label: "Definitions", roles: "read" },
  { path: "/definitions/new", module: "./definitions-editor.js", roles: "manage" },
  { path: "/definitions/templates/:key", module: "./definitions-template.js", roles: "read" },
  { path: "/definitions/:id", module: "./definitions-one.js", roles: "read" },
  { path: "/definitions/:id/edit", module: "./definitions-editor.js", roles: "manage" },
  { path: "/audit", module: "./audit.js", label: "Audit", roles: "read" },
  { path: "/projections", module: "./projections.js", label: "Projections", roles: "manage" },
];
