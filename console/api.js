// The management API, called with the signed-in person's token. Errors carry the API's own
// message; an expired or refused token is a SessionExpired the page turns into "sign in again".
import { token } from "./auth.js";

export class SessionExpired extends Error {}

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export async function api(method, path, body) {
  const bearer = token();
  if (!bearer) throw new SessionExpired("Your session has expired.");
  const headers = { authorization: `Bearer ${bearer}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) throw new SessionExpired("Your session has expired.");
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code, error.message || `The server answered ${response.status}.`, error.field);
  }
  return data;
}

/** Every item of a list, following `next_cursor` until it is null. */
export async function all(path, limit = 100) {
  const items = [];
  let cursor = null;
  do {
    const url = new URL(path, location.origin);
    url.searchParams.set("limit", String(limit));
    if (cursor) url.searchParams.set("cursor", cursor);
    const page = await api("GET", url.pathname + url.search);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}
