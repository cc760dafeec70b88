// The console's shell: routing (History API, every path below /console), the main navigation,
// the signed-in user's box, and the pages' context. Pages are modules listed in pages/index.js.

import { ApiProblem, onUnauthenticated } from "./api.js";
import { pages } from "./pages/index.js";
import { can, currentSession, isExpired, signOut, storedToken } from "./session.js";
import { h, link, problemBox, replace } from "./ui.js";

export const BASE = "/console";

const compiled = pages.map((page) => ({
  ...page,
  regex: new RegExp("^" + page.path.replace(/\/$/, "").replace(/:([A-Za-z_]+)/g, "(?<$1>[^/]+)") + "/?$"),
}));

function routeOf(pathname) {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) || "/" : "/";
  for (const page of compiled) {
    const found = path.match(page.regex);
    if (found) {
      const params = Object.fromEntries(Object.entries(found.groups || {}).map(([k, v]) => [k, decodeURIComponent(v)]));
      return { page, params, path };
    }
  }
  return { page: null, params: {}, path };
}

/** Go to a console path ("/executions?status=failed"), without reloading. */
export function navigate(path, { replace: replaceState = false } = {}) {
  const url = BASE + (path.startsWith("/") ? path : "/" + path);
  if (replaceState) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

function here() {
  return location.pathname.slice(BASE.length) + location.search;
}

function signInPath(reason) {
  const next = here();
  const query = new URLSearchParams();
  if (reason) query.set("reason", reason);
  if (next && !next.startsWith("/sign-in")) query.set("next", next);
  return "/sign-in" + (query.toString() ? "?" + query : "");
}

function renderNav(session, currentPage) {
  const nav = document.getElementById("nav");
  if (!session) return replace(nav);
  const items = compiled.filter((p) => p.label && can(session, p.roles || "read"));
  replace(nav, h("ul", {}, items.map((p) => h("li", {},
    link(p.path, p.label, { "aria-current": currentPage && (currentPage.path === p.path
      || (p.path !== "/" && currentPage.path.startsWith(p.path + "/"))) ? "page" : false })))));
}

function renderSessionBox(session) {
  const box = document.getElementById("session");
  if (!session) return replace(box);
  replace(box,
    h("span", { "data-testid": "whoami" }, `${session.user} · ${session.org} · `, h("strong", {}, session.role)),
    h("button", { type: "button", id: "sign-out", onclick: () => { signOut(); navigate("/sign-in?reason=signed-out"); } }, "Sign out"));
}

function notAllowed(main, session, page) {
  const wanted = Array.isArray(page.roles) ? page.roles.join(", ")
    : { work: "owner, admin, member", manage: "owner, admin" }[page.roles] || page.roles;
  replace(main,
    h("h1", {}, "Not allowed for your role"),
    h("div", { class: "problem", role: "alert", "data-status": 403 },
      h("p", {}, `This page is for ${wanted}. You are signed in as ${session.user} with the role ${session.role} in ${session.org}.`)),
    h("p", {}, link("/", "Go to My work"), " or ", link(signInPath(), "sign in with another role"), "."));
}

let leaving = null; // aborts the current page's polls and requests when another page renders
let renderCount = 0;

export async function render() {
  const count = ++renderCount;
  leaving?.abort();
  leaving = new AbortController();
  const main = document.getElementById("main");
  main.setAttribute("aria-busy", "true");
  const { page, params } = routeOf(location.pathname);
  const session = currentSession();
  const query = new URLSearchParams(location.search);

  if (page && !page.public) {
    if (!storedToken()) return navigate(signInPath(), { replace: true });
    if (!session) return navigate(signInPath("invalid"), { replace: true });
    if (isExpired(session)) return navigate(signInPath("expired"), { replace: true });
  }
  renderNav(page?.public ? null : session, page);
  renderSessionBox(page?.public ? null : session);

  const ctx = {
    main, params, query, session, signal: leaving.signal, navigate,
    can: (what) => can(session, what),
    setTitle: (title) => { document.title = `${title} · Byte Dashboard`; },
  };
  try {
    if (!page) {
      ctx.setTitle("Not found");
      replace(main, h("h1", {}, "Page not found"), h("p", {}, "No console page lives at this address. ", link("/", "Go to My work"), "."));
    } else if (!page.public && !can(session, page.roles || "read")) {
      ctx.setTitle("Not allowed");
      notAllowed(main, session, page);
    } else {
      const module = await import(new URL(page.module, new URL("./pages/", import.meta.url)).href);
      if (count !== renderCount) return;
      replace(main);
      ctx.setTitle(module.title || page.label || "Console");
      await module.render(ctx);
    }
  } catch (error) {
    if (count !== renderCount || error?.name === "AbortError") return;
    if (error instanceof ApiProblem && error.status === 401) return; // the sign-in page is on its way
    replace(main, h("h1", {}, "This page could not be shown"), problemBox(error));
  } finally {
    if (count === renderCount) {
      main.setAttribute("aria-busy", "false");
    }
  }
  if (count === renderCount && !ctx.keepFocus) main.focus({ preventScroll: true });
}

onUnauthenticated((problem) => {
  const reason = /expired/i.test(problem.detail) ? "expired" : "invalid";
  navigate(signInPath(reason), { replace: true });
});

document.addEventListener("click", (event) => {
  const anchor = event.target.closest("a[data-link]");
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  event.preventDefault();
  navigate(url.pathname.slice(BASE.length) + url.search || "/");
});
window.addEventListener("popstate", render);
render();
