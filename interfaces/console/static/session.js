// The signed-in caller: the bearer token kept in this browser, and what its claims say.
//
// The claims are read here only to show who is signed in and which pages and actions to offer;
// the API checks the token on every request and has the last word (a 401 or a 403).

const STORAGE_KEY = "bytedash.console.token";

export const ROLES = ["owner", "admin", "member", "viewer"];
// The same groups as the API's (interfaces/api/auth.py): who acts on work, who manages definitions.
export const WORK_ROLES = ["owner", "admin", "member"];
export const MANAGER_ROLES = ["owner", "admin"];

function decodePart(part) {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function roleOf(claims) {
  const raw = claims.org_role ?? (claims.o && claims.o.rol);
  if (typeof raw !== "string") return null;
  const role = raw.startsWith("org:") ? raw.slice(4) : raw;
  return ROLES.includes(role) ? role : null;
}

/** What a token says, or {problem} when it cannot be read as a JWT of ours. */
export function readToken(token) {
  const parts = (token || "").trim().split(".");
  if (parts.length !== 3) return { problem: "invalid", detail: "This is not a JWT (three dot-separated parts)." };
  let claims;
  try {
    claims = decodePart(parts[1]);
  } catch {
    return { problem: "invalid", detail: "The token's claims cannot be read." };
  }
  const org = claims.org_id ?? (claims.o && claims.o.id);
  const role = roleOf(claims);
  if (!claims.sub || !org || !role) {
    return { problem: "invalid", detail: "The token names no user, org or known role (sub, org_id, org_role)." };
  }
  const expiresAt = typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null;
  return { token: token.trim(), user: String(claims.sub), org: String(org), role, expiresAt, claims };
}

/** The current session ({token, user, org, role, expiresAt}), or null when signed out. */
export function currentSession() {
  const token = localStorage.getItem(STORAGE_KEY);
  if (!token) return null;
  const session = readToken(token);
  return session.problem ? null : session;
}

export function storedToken() {
  return localStorage.getItem(STORAGE_KEY);
}

export function isExpired(session, now = Date.now()) {
  return Boolean(session && session.expiresAt && session.expiresAt.getTime() <= now);
}

export function signIn(token) {
  localStorage.setItem(STORAGE_KEY, token.trim());
}

export function signOut() {
  localStorage.removeItem(STORAGE_KEY);
}

/** Whether `session` may do `what`: "read" (every role), "work" (members and above), "manage"
 * (admins and owners), or a list of roles. */
export function can(session, what) {
  if (!session) return false;
  if (Array.isArray(what)) return what.includes(session.role);
  if (what === "work") return WORK_ROLES.includes(session.role);
  if (what === "manage") return MANAGER_ROLES.includes(session.role);
  return what === "read";
}
