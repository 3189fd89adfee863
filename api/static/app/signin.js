// /signin: three ways in, none of which gives voicebin a password.
//
//  - With the account's OAuth issuer (when configured): authorization code + PKCE (S256) as a
//    public client, asking for a token for this site (`resource`, RFC 8707); bound to a
//    non-extractable DPoP key when the issuer's metadata offers ES256 proofs.
//  - With a one-time link (`voicebin keys login-link`): its token rides in the URL's fragment,
//    which never reaches a server log or a Referer, and is exchanged once for a session key.
//  - By pasting an API key.
//
// Whatever the way, the token lands in this tab's sessionStorage (session.js) and is sent only
// as `Authorization`. Afterwards the person goes back where they were (`takeReturnTo`).

import "./nav.js";
import { $, announce, problemText } from "./ui.js";
import {
  authHeaders,
  claimsOf,
  current,
  noteNonce,
  path,
  problemOf,
  save,
  signOut,
  takeReturnTo,
  wantsNonce,
} from "./session.js";
import { b64url, createKey, install, loadKey, proof, thumbprint } from "./dpop.js";

const config = document.body.dataset;
const site = config.site;
const redirectUri = `${site}/signin`;
const FLOW_KEY = "voicebin.oauth-flow";

function say(id, text) {
  const node = $(id);
  node.textContent = text;
  return node;
}

function notice(text) {
  const node = say("#signin-notice", text);
  node.hidden = !text;
}

const reason = new URLSearchParams(location.search).get("reason");
if (reason === "expired") {
  notice("Your session ended, so you were signed out. Sign in again to carry on where you were.");
} else if (reason === "signed-out") {
  notice("You are signed out. This tab no longer holds any key.");
}

/** Saves the session and goes back to where the person was. */
function signedIn(session) {
  save(session);
  announce(`Signed in as ${session.account}`);
  location.assign(takeReturnTo());
}

const scopesOf = (scope) => (typeof scope === "string" ? scope.split(" ").filter(Boolean) : []);

// ---- API key -------------------------------------------------------------------------------

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("#key-error", "");
  const token = $("#api-key").value.trim();
  const claims = claimsOf(token);
  if (!claims || typeof claims.sub !== "string") {
    say("#key-error", "That is not an API key: a key looks like pbca_live_ followed by three dot-separated parts.");
    $("#api-key").focus();
    return;
  }
  // The server decides whether the key is good: one cheap call that needs it.
  let response;
  try {
    response = await fetch(path("/api/v1/account/items?limit=1"), {
      headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
    });
  } catch {
    say("#key-error", "voicebin could not be reached; check your connection and try again.");
    return;
  }
  if (!response.ok) {
    say("#key-error", `The key was refused. ${problemText(await problemOf(response))}`);
    $("#api-key").focus();
    return;
  }
  signedIn({
    token,
    scheme: "Bearer",
    account: claims.sub,
    scopes: scopesOf(claims.scope),
    expiresAt: typeof claims.exp === "number" ? claims.exp * 1000 : null,
    via: "key",
  });
});

// ---- One-time link -------------------------------------------------------------------------

async function redeemLink(token) {
  $("#link").hidden = false;
  say("#link-error", "");
  say("#link-status", "Signing you in with your link…");
  let response;
  try {
    response = await fetch(path("/api/v1/session/login-link"), {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
  } catch {
    say("#link-status", "");
    say("#link-error", "voicebin could not be reached; check your connection and open the link again.");
    return;
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    say("#link-status", "");
    const words = {
      409: "This sign-in link was already used. A link works once: ask for a new one, or sign in another way below.",
      401: `This sign-in link cannot be used: ${problem.problem.detail || "it is invalid"}. Ask for a new one, or sign in another way below.`,
      404: "This site does not use sign-in links: sign in with your account or an API key below.",
    };
    say("#link-error", words[response.status] || `Signing in with the link failed. ${problemText(problem)}`);
    $("#link-title").setAttribute("tabindex", "-1");
    $("#link-title").focus();
    return;
  }
  const session = await response.json();
  signedIn({
    token: session.access_token,
    scheme: "Bearer",
    account: session.account,
    scopes: scopesOf(session.scope),
    expiresAt: Date.now() + session.expires_in * 1000,
    via: "link",
  });
}

// ---- OAuth 2.1: authorization code + PKCE (+ DPoP) ----------------------------------------

let metadata = null;

/** The issuer's endpoints and whether it takes ES256 DPoP proofs. */
async function issuer() {
  if (!metadata) {
    let doc = {};
    if (config.oauthMetadata) {
      const response = await fetch(config.oauthMetadata, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`the issuer's metadata answered HTTP ${response.status}`);
      doc = await response.json();
    }
    const algs = doc.dpop_signing_alg_values_supported;
    metadata = {
      issuer: doc.issuer || config.oauthIssuer,
      authorize: doc.authorization_endpoint || config.oauthAuthorize,
      token: doc.token_endpoint || config.oauthToken,
      dpop: Array.isArray(algs) && algs.includes("ES256"),
      checksIss: Boolean(doc.authorization_response_iss_parameter_supported),
    };
    if (!metadata.authorize || !metadata.token) throw new Error("the issuer names no authorization or token endpoint");
  }
  return metadata;
}

const random = (bytes) => b64url(crypto.getRandomValues(new Uint8Array(bytes)));

async function startOAuth() {
  say("#oauth-error", "");
  say("#oauth-status", "Taking you to your account provider…");
  $("#oauth-start").disabled = true;
  try {
    const as = await issuer();
    const verifier = random(32);
    const state = random(16);
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const url = new URL(as.authorize);
    const params = {
      response_type: "code",
      client_id: config.oauthClient,
      redirect_uri: redirectUri,
      scope: config.oauthScope,
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
      resource: site,
    };
    // RFC 9449 §10: the code itself is bound to the key, so only this tab can redeem it.
    let dpopKey = null;
    if (as.dpop) {
      const { keys, id } = await createKey();
      params.dpop_jkt = await thumbprint(keys);
      dpopKey = id;
    }
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    sessionStorage.setItem(FLOW_KEY, JSON.stringify({ state, verifier, dpopKey }));
    location.assign(url.href);
  } catch (e) {
    say("#oauth-status", "");
    say("#oauth-error", `Signing in with your account is not possible right now: ${problemText(e)}.`);
    $("#oauth-start").disabled = false;
  }
}

/** Posts to the token endpoint, with a DPoP proof when bound, retrying once with a nonce. */
async function exchange(as, form, keys) {
  let nonce = null;
  for (let attempt = 0; ; attempt += 1) {
    const headers = { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" };
    if (keys) headers.DPoP = await proof(keys, "POST", as.token, { nonce });
    const response = await fetch(as.token, { method: "POST", headers, body: new URLSearchParams(form) });
    const answer = await response.json().catch(() => ({}));
    const wanted = response.headers.get("DPoP-Nonce");
    if (keys && attempt === 0 && answer.error === "use_dpop_nonce" && wanted) {
      nonce = wanted;
      continue;
    }
    if (!response.ok) throw new Error(answer.error_description || answer.error || `HTTP ${response.status}`);
    return answer;
  }
}

/** Calls the API once with the new session (retrying once for a DPoP nonce); throws if refused. */
async function check() {
  const url = path("/api/v1/account/items?limit=1");
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const headers = { Accept: "application/json", ...(await authHeaders("GET", url)) };
    const response = await fetch(url, { headers });
    noteNonce(response);
    if (wantsNonce(response) && attempt === 0) continue;
    if (!response.ok) throw await problemOf(response);
    return;
  }
}

async function finishOAuth(params) {
  $("#oauth").hidden = false;
  say("#oauth-status", "Finishing signing in…");
  const flow = JSON.parse(sessionStorage.getItem(FLOW_KEY) || "null");
  sessionStorage.removeItem(FLOW_KEY);
  const fail = (text) => {
    say("#oauth-status", "");
    say("#oauth-error", text);
    $("#oauth-start").focus();
  };
  if (!flow || params.get("state") !== flow.state) {
    fail("This answer from your account provider does not belong to a sign-in started in this tab. Please start again.");
    return;
  }
  if (params.has("error")) {
    const why = params.get("error_description") || params.get("error");
    fail(`Your account provider did not sign you in (${why}). You can try again.`);
    return;
  }
  try {
    const as = await issuer();
    // RFC 9207: the answer names who sent it, so another issuer's code cannot be slipped in.
    if ((params.has("iss") || as.checksIss) && params.get("iss") !== as.issuer) {
      throw new Error("the answer came from another issuer");
    }
    const keys = flow.dpopKey ? await loadKey(flow.dpopKey) : null;
    if (flow.dpopKey && !keys) throw new Error("this browser lost the key made for this sign-in");
    const answer = await exchange(
      as,
      {
        grant_type: "authorization_code",
        code: params.get("code"),
        redirect_uri: redirectUri,
        client_id: config.oauthClient,
        code_verifier: flow.verifier,
        resource: site,
      },
      keys,
    );
    const scheme = String(answer.token_type || "").toLowerCase() === "dpop" ? "DPoP" : "Bearer";
    if (keys && scheme !== "DPoP") throw new Error("the issuer did not bind the token to this browser's key");
    const claims = claimsOf(answer.access_token) || {};
    const account = claims.sub;
    if (typeof account !== "string") throw new Error("the access token names no account");
    if (keys) await install(flow.dpopKey);
    const session = {
      token: answer.access_token,
      scheme,
      account,
      scopes: scopesOf(answer.scope || claims.scope),
      expiresAt: answer.expires_in ? Date.now() + answer.expires_in * 1000 : claims.exp ? claims.exp * 1000 : null,
      via: "oauth",
      ...(keys ? { dpopKey: flow.dpopKey } : {}),
    };
    save(session);
    // voicebin itself must take the token: one cheap call that needs it.
    try {
      await check();
    } catch (e) {
      await signOut(); // deletes the key too
      throw new Error(`voicebin refused the token (${problemText(e)})`);
    }
    signedIn(session);
  } catch (e) {
    fail(`Signing in with your account failed: ${problemText(e)}. You can try again.`);
  }
}

// ---- What this visit is --------------------------------------------------------------------

if (config.oauthClient) {
  $("#oauth").hidden = false;
  $("#oauth-start").addEventListener("click", startOAuth);
}
if (config.links === "on") $("#link").hidden = false;

/** Redeems the link in the address bar's fragment, if there is one; true if there was. A tab
 *  already signed in as someone else asks first: a link someone sent could sign this tab into
 *  their account, and what the person uploaded next would be theirs. */
function linkInFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (!fragment.has("login")) return false;
  const token = fragment.get("login");
  // Off the address bar and out of history before anything else happens.
  history.replaceState(null, "", location.pathname + location.search);
  const session = current();
  const account = claimsOf(token)?.sub;
  if (session && session.account !== account) {
    askBeforeSwitching(token, session.account, account);
  } else {
    redeemLink(token);
  }
  return true;
}

// The link waiting for the person's answer; it is not used (and so not spent) until they say so.
let waitingLink = null;

function askBeforeSwitching(token, signedInAs, linkAccount) {
  waitingLink = token;
  $("#link").hidden = false;
  say("#link-error", "");
  say("#link-status", "");
  say(
    "#link-switch-text",
    `This tab is signed in as ${signedInAs}. The link you opened signs it in as ` +
      `${linkAccount ? linkAccount : "another account"} instead: anything you upload after that ` +
      "belongs to that account. Use the link only if you asked for it.",
  );
  say("#link-switch-current", signedInAs);
  $("#link-switch").hidden = false;
  $("#link-title").setAttribute("tabindex", "-1");
  $("#link-title").focus();
}

$("#link-switch-use").addEventListener("click", () => {
  const token = waitingLink;
  waitingLink = null;
  $("#link-switch").hidden = true;
  if (token) redeemLink(token);
});

$("#link-switch-keep").addEventListener("click", () => {
  waitingLink = null;
  $("#link-switch").hidden = true;
  say("#link-status", `You are still signed in as ${current()?.account || "before"}; the link was not used.`);
});

// A link opened in a tab already on /signin (pasted into its address bar, as this page says
// to do) changes only the fragment: the page is not loaded again, so it listens for that.
window.addEventListener("hashchange", linkInFragment);

const query = new URLSearchParams(location.search);
if (linkInFragment()) {
  // Signing in with the link.
} else if (config.oauthClient && (query.has("code") || query.has("error")) && query.has("state")) {
  history.replaceState(null, "", location.pathname);
  finishOAuth(query);
}
