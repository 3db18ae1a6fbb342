// The admin API client: the admin key lives in sessionStorage only and goes as a Bearer header.

const STORAGE_KEY = "torouter.adminKey";
export const UNAUTHORIZED = "torouter:unauthorized";

export class ApiError extends Error {
  constructor(status, message, param = null, code = null) {
    super(message);
    this.status = status;
    this.param = param;
    this.code = code;
  }
}

export const session = {
  get key() {
    return sessionStorage.getItem(STORAGE_KEY);
  },
  set key(value) {
    if (value) sessionStorage.setItem(STORAGE_KEY, value);
    else sessionStorage.removeItem(STORAGE_KEY);
  },
};

/** The message of an error answer in any of the three protocols' formats (all have error.message). */
export async function errorOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    const error = body.error || {};
    return new ApiError(response.status, error.message || text, error.param ?? null, error.code ?? error.type ?? null);
  } catch {
    return new ApiError(response.status, text || response.statusText);
  }
}

/** Query string of the non-empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Calls /admin/v1{path}; JSON in and out, an ApiError for any non-2xx answer. A 401 also tells the
 * app (the key was revoked from the config, or the session holds a stale one). */
export async function admin(path, { method = "GET", body, key = session.key, raw = false } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(`/admin/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `The gateway cannot be reached (${error.message}).`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && key === session.key) window.dispatchEvent(new CustomEvent(UNAUTHORIZED));
    throw error;
  }
  return raw ? response : response.json();
}

/** The filename of a Content-Disposition header. */
export function filenameOf(response, fallback) {
  const header = response.headers.get("content-disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(header);
  return match ? match[1] : fallback;
}
