// Sign-in: paste a bearer token, or (when the API uses its development secret) pick an org, a
// role and a user and let the API mint one. Also the page shown when a token has expired, is
// not valid, or the caller signed out.

import { ApiProblem, get, post } from "../api.js";
import { ROLES, readToken, signIn } from "../session.js";
import { busy, field, h, problemBox, replace, select } from "../ui.js";

export const title = "Sign in";

const REASONS = {
  expired: ["Your session has expired", "The token you signed in with has expired. Sign in again to go on where you were."],
  invalid: ["Your token is not valid", "The API did not accept the token this browser holds (wrong signature, unknown org or role, or malformed). Sign in again."],
  "signed-out": ["You are signed out", "Sign in to use the console again."],
};

function nextPath(query) {
  const next = query.get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

/** Check `token` against the API before keeping it: a read every role may make. */
async function tryToken(token) {
  const session = readToken(token);
  if (session.problem) throw new ApiProblem(401, { title: "This token cannot be used", detail: session.detail });
  if (session.expiresAt && session.expiresAt.getTime() <= Date.now()) {
    throw new ApiProblem(401, { title: "This token has expired", detail: `It expired at ${session.expiresAt.toISOString()}.` });
  }
  await get("/me/tasks", { limit: 1 }, { token: session.token });
  return session;
}

export async function render(ctx) {
  const { main, query, navigate } = ctx;
  const reason = REASONS[query.get("reason")];
  const message = h("div", { id: "sign-in-problem" });
  const pasted = h("textarea", { rows: 4, spellcheck: "false", autocomplete: "off", required: true,
    placeholder: "eyJhbGciOi…" });

  const finish = async (token, button) => {
    replace(message);
    const session = await busy(button, () => tryToken(token), message);
    if (!session) return;
    signIn(session.token);
    navigate(nextPath(query), { replace: true });
  };

  const pasteForm = h("form", { class: "panel", "aria-labelledby": "paste-heading",
    onsubmit: (event) => { event.preventDefault(); finish(pasted.value, event.submitter || pasteButton); } },
    h("h2", { id: "paste-heading" }, "Paste a token"),
    field("Bearer token", pasted, { name: "token", hint: "A JWT from your identity provider, or `bytedash token --org ORG --role ROLE --user ID`." }),
    h("p", {}, h("button", { type: "submit", class: "primary", id: "paste-sign-in" }, "Sign in with this token")));
  const pasteButton = pasteForm.querySelector("button");

  replace(main,
    h("h1", {}, reason ? reason[0] : "Sign in to the console"),
    reason ? h("div", { class: query.get("reason") === "signed-out" ? "notice" : "problem", role: "alert",
      id: "session-reason", "data-reason": query.get("reason") }, h("p", {}, reason[1])) : null,
    message,
    h("div", { class: "grid2", id: "sign-in-forms" }, pasteForm));

  let issuer = null;
  try {
    issuer = await get("/dev/tokens", {}, { token: "", signal: ctx.signal });
  } catch (error) {
    if (!(error instanceof ApiProblem) || error.status !== 404) {
      main.querySelector("#sign-in-forms").append(problemBox(error, "Development sign-in could not be checked"));
    }
  }
  if (!issuer?.available) return;

  const org = h("input", { type: "text", value: "acme", required: true, autocomplete: "organization" });
  const role = select(issuer.roles || ROLES, "member");
  const user = h("input", { type: "text", value: "alice", required: true, autocomplete: "username" });
  const devForm = h("form", { class: "panel", id: "dev-sign-in", "aria-labelledby": "dev-heading",
    onsubmit: async (event) => {
      event.preventDefault();
      const button = devForm.querySelector("button");
      replace(message);
      const minted = await busy(button, () => post("/dev/tokens",
        { org: org.value.trim(), role: role.value, user: user.value.trim() }, { token: "" }), message);
      if (minted) await finish(minted.token, button);
    } },
    h("h2", { id: "dev-heading" }, "Development sign-in"),
    h("p", { class: "muted" }, "This server uses the public development secret, so it can make you a token. Production servers (AUTH_JWKS_URL or BYTEDASH_ENV=production) never do."),
    h("div", { class: "row" },
      field("Organisation", org, { name: "org" }),
      field("Role", role, { name: "role" }),
      field("User", user, { name: "user" })),
    h("p", {}, h("button", { type: "submit", class: "primary" }, "Sign in")));
  main.querySelector("#sign-in-forms").prepend(devForm);
}
