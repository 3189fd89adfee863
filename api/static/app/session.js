// The signed-in person, as this tab knows them, and every call the app makes to the API.
//
// The token lives in sessionStorage (this tab only; gone when the tab closes or on sign-out) and
// is sent only as `Authorization`, never in a cookie, so the server has no ambient credential to
// be tricked into using (no CSRF surface). A DPoP-bound token (RFC 9449) also needs a proof per
// request, signed by a non-extractable key: the sign-in code registers the signer with
// `useProofSigner`.

const STORE_KEY = "voicebin.session";
const RETURN_KEY = "voicebin.return-to";

const body = document.body.dataset;

/** The site's path prefix ("" at the root of a host). Pages outside the app (the view page)
 *  carry it on the element their module fills in. */
export const base =
  body.base ?? (document.querySelector("[data-base]") || { dataset: {} }).dataset.base ?? "";

/** An absolute path on this site, for links and API calls. */
export function path(p) {
  return base + p;
}

/** The session: { token, scheme: "Bearer"|"DPoP", account, scopes: [], expiresAt (ms)|null,
 *  via: "key"|"link"|"oauth", dpopKey: the id of its DPoP key in IndexedDB (DPoP only) }, or
 *  null when signed out or expired. */
export function current() {
  let session;
  try {
    session = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
  } catch {
    session = null;
  }
  if (!session || typeof session.token !== "string") return null;
  if (session.expiresAt && Date.now() >= session.expiresAt) return null;
  return session;
}

export function save(session) {
  sessionStorage.setItem(STORE_KEY, JSON.stringify(session));
  window.dispatchEvent(new CustomEvent("voicebin:session"));
}

const signOutHooks = [];

/** `fn` runs (awaited) when the person signs out, e.g. to delete a DPoP key. */
export function onSignOut(fn) {
  signOutHooks.push(fn);
}

export async function signOut() {
  let dpopKey = null;
  try {
    dpopKey = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null")?.dpopKey || null;
  } catch {
    // Not ours to read: forget it all the same.
  }
  sessionStorage.removeItem(STORE_KEY);
  if (dpopKey) {
    try {
      // The DPoP key goes with the token it was bound to.
      await (await import("./dpop.js")).forgetKey(dpopKey);
    } catch {
      // No IndexedDB after all: nothing was stored.
    }
  }
  for (const hook of signOutHooks) {
    try {
      await hook();
    } catch {
      // Forgetting must not stop at one failed hook.
    }
  }
  window.dispatchEvent(new CustomEvent("voicebin:session"));
}

export function hasScope(scope) {
  const session = current();
  return Boolean(session && Array.isArray(session.scopes) && session.scopes.includes(scope));
}

/** What a JWT says of itself (unverified: the server verifies; this is for the page's display
 *  and expiry only). API keys carry a `pbca_live_` prefix. */
export function claimsOf(token) {
  const jws = token.startsWith("pbca_live_") ? token.slice("pbca_live_".length) : token;
  const parts = jws.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

let proofSigner = null;
// The last `DPoP-Nonce` this site sent (RFC 9449 §8), put in the next proofs.
let dpopNonce = null;

/** Registers `fn(method, url, token, nonce) -> Promise<string>`, which makes a DPoP proof. */
export function useProofSigner(fn) {
  proofSigner = fn;
}

/** Keeps the server's latest DPoP nonce from `response` (any answer may carry one). */
export function noteNonce(response) {
  rememberNonce(response.headers.get("DPoP-Nonce"));
}

/** Keeps `nonce`, a `DPoP-Nonce` header's value (or null), for the next proofs: for answers
 *  that did not come through fetch (the tus client's). */
export function rememberNonce(nonce) {
  if (nonce) dpopNonce = nonce;
}

/** Whether `response` is a 401 asking for a (new) DPoP nonce: retry once, not an expiry. */
export function wantsNonce(response) {
  return (
    response.status === 401 &&
    response.headers.has("DPoP-Nonce") &&
    /error="use_dpop_nonce"/.test(response.headers.get("WWW-Authenticate") || "")
  );
}

/** The headers that authenticate a request to `url` (absolute or site path) with `method`. */
export async function authHeaders(method, url) {
  const session = current();
  if (!session) return {};
  if (session.scheme === "DPoP") {
    // Pages other than /signin load the key that sign-in stored when they first need it.
    if (!proofSigner) await (await import("./dpop.js")).install(session.dpopKey);
    if (!proofSigner) throw new Error("this session needs a DPoP key, which is not loaded");
    const absolute = new URL(url, location.href).href;
    return {
      Authorization: `DPoP ${session.token}`,
      DPoP: await proofSigner(method, absolute, session.token, dpopNonce),
    };
  }
  return { Authorization: `Bearer ${session.token}` };
}

/** An RFC 9457 problem from the API (or a network failure, with status 0). */
export class Problem extends Error {
  constructor(status, problem) {
    const text = problem.detail || problem.title || `HTTP ${status}`;
    super(text);
    this.status = status;
    this.problem = problem;
  }
}

/** Reads a failed response as a Problem. */
export async function problemOf(response) {
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    problem = { title: response.statusText || `HTTP ${response.status}` };
  }
  return new Problem(response.status, problem);
}

const expiryHooks = [];

/** `fn` runs (awaited) before an expired session sends the person to sign in: keep what they
 *  were doing (an unsent recording, a half-edited form) somewhere that survives the trip. */
export function onExpired(fn) {
  expiryHooks.push(fn);
}

/** The token was refused (expired or revoked): keep the page's work, forget the token, and go
 *  to sign in, coming back here afterwards. */
export async function expired() {
  for (const hook of expiryHooks) {
    try {
      await hook();
    } catch {
      // Keep going: signing in again matters more.
    }
  }
  await signOut();
  goSignIn("expired");
}

/** Sends the person to `/signin`, to come back to this page. */
export function goSignIn(reason) {
  sessionStorage.setItem(RETURN_KEY, location.pathname + location.search + location.hash);
  const query = reason ? `?reason=${encodeURIComponent(reason)}` : "";
  location.assign(path(`/signin${query}`));
}

/** Where to go after signing in (a path on this site), and forget it. */
export function takeReturnTo() {
  const to = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  // Only a page of this site: never an open redirect (a stored "/\\evil.example" resolves to
  // another origin, so the resolved URL is what is checked). Resolving can also leave a path
  // that starts with "//" ("/.//evil.example" becomes "//evil.example"), which location.assign
  // would read as another host: such a path is no page of this site either.
  if (to && to.startsWith("/")) {
    try {
      const url = new URL(to, location.origin);
      if (url.origin === location.origin && !url.pathname.startsWith("//")) {
        return url.pathname + url.search + url.hash;
      }
    } catch {
      // Not a URL: go home.
    }
  }
  return path("/");
}

/**
 * Calls the API: `api("/api/v1/items/abc")`. Sends the session's credentials; returns the parsed
 * JSON (or null for 204); throws a Problem for an error answer. A 401 to a signed-in person means
 * the token is no longer good: see `expired`.
 */
export async function api(p, { method = "GET", json, body: payload, headers = {}, signal } = {}) {
  const url = path(p);
  let bodyToSend = payload;
  const extra = {};
  if (json !== undefined) {
    extra["Content-Type"] = "application/json";
    bodyToSend = JSON.stringify(json);
  }
  let response;
  // A DPoP proof refused for want of a nonce is made again, once, with the nonce it was sent.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const all = { Accept: "application/json", ...headers, ...extra, ...(await authHeaders(method, url)) };
    try {
      response = await fetch(url, { method, headers: all, body: bodyToSend, signal });
    } catch (e) {
      if (e && e.name === "AbortError") throw e;
      throw new Problem(0, { title: "Network error", detail: "voicebin could not be reached; check your connection and try again." });
    }
    noteNonce(response);
    if (!(wantsNonce(response) && attempt === 0)) break;
  }
  if (response.status === 401 && current()) {
    await expired();
    throw await problemOf(response);
  }
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}
