// The one way pages call the API: the bearer token added, JSON in and out, and every error
// turned into an ApiProblem carrying the problem+json document (RFC 9457) the API answered.

import { storedToken } from "./session.js";

export const API_BASE = "/api/v1";

/** An error answer of the API: status, type, title, detail and `errors`
 * ([{field, message, location, step_id?}]) as the problem document gives them. */
export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiProblem";
    this.status = status;
    this.type = problem.type || "about:blank";
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
  /** The `errors` entries naming `field` (exact, or a path below it: "config" finds "config.title"). */
  errorsFor(field) {
    return this.errors.filter((e) => e.field === field || (e.field || "").startsWith(field + "."));
  }
}

// Listeners told of every 401 (the app shows the sign-in page with the reason).
const unauthenticatedListeners = new Set();
export function onUnauthenticated(listener) {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

function urlOf(path, query) {
  const url = new URL(path.startsWith("/") && !path.startsWith(API_BASE) && !path.startsWith("/webhooks")
    ? API_BASE + path : path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(key, v));
    else url.searchParams.set(key, String(value));
  }
  return url;
}

/**
 * Call the API. `path` is relative to /api/v1 ("/tasks") unless it starts with it.
 * Options: method, query (object; empty values dropped), body (sent as JSON), wait (adds
 * ?wait=true: the answer comes once the read side shows the change), headers, signal, token
 * (a token to use instead of the stored one), raw (return the Response).
 * Resolves to the parsed JSON (null for 204); rejects with ApiProblem for any error answer,
 * or with ApiProblem status 0 when the API cannot be reached.
 */
export async function api(path, options = {}) {
  const { method = "GET", query, body, wait, headers = {}, signal, token, raw } = options;
  const url = urlOf(path, wait ? { ...query, wait: "true" } : query);
  const bearer = token ?? storedToken();
  const init = { method, signal, headers: { Accept: "application/json", ...headers } };
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiProblem(0, { title: "The API cannot be reached", detail: String(error.message || error) });
  }
  if (raw && response.ok) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const payload = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const problem = payload && typeof payload === "object" ? payload
      : { title: response.statusText || `HTTP ${response.status}`, detail: String(payload || "").slice(0, 300) };
    const error = new ApiProblem(response.status, problem);
    if (response.status === 401 && token === undefined) unauthenticatedListeners.forEach((listener) => listener(error));
    throw error;
  }
  return payload;
}

export const get = (path, query, options = {}) => api(path, { ...options, query });
export const post = (path, body, options = {}) => api(path, { ...options, method: "POST", body });
export const patch = (path, body, options = {}) => api(path, { ...options, method: "PATCH", body });
export const put = (path, body, options = {}) => api(path, { ...options, method: "PUT", body });
export const del = (path, options = {}) => api(path, { ...options, method: "DELETE" });
