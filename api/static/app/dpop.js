// DPoP (RFC 9449) in the browser: one P-256 key per sign-in, made by WebCrypto as
// non-extractable (the page can sign with it but never read it), kept in IndexedDB (a CryptoKey
// is structured-cloneable; sessionStorage holds only strings) under a random id that the tab's
// session names, so every page of this tab's session can prove possession while another tab's
// sign-in makes a key of its own; deleted on sign-out.

import { useProofSigner } from "./session.js";

const DB = "voicebin-dpop";
const STORE = "keys";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function open() {
  const req = indexedDB.open(DB, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE);
  return request(req);
}

async function withStore(mode, fn) {
  const db = await open();
  try {
    const tx = db.transaction(STORE, mode);
    const result = await request(fn(tx.objectStore(STORE)));
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    return result;
  } finally {
    db.close();
  }
}

export function b64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const utf8 = (text) => new TextEncoder().encode(text);

/** A fresh non-extractable ES256 key pair, stored under a new random id: { keys, id }. */
export async function createKey() {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
    "verify",
  ]);
  const id = b64url(crypto.getRandomValues(new Uint8Array(16)));
  await withStore("readwrite", (store) => store.put(keys, id));
  return { keys, id };
}

/** The key pair stored as `id`, or null. */
export async function loadKey(id) {
  if (!id) return null;
  try {
    return (await withStore("readonly", (store) => store.get(id))) || null;
  } catch {
    return null;
  }
}

/** Deletes the key `id`: the token bound to it is worthless from now on. */
export async function forgetKey(id) {
  useProofSigner(null);
  if (id) await withStore("readwrite", (store) => store.delete(id));
}

async function publicJwk(keys) {
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", keys.publicKey);
  return { kty, crv, x, y };
}

/** The key's RFC 7638 thumbprint (the `dpop_jkt` and the token's `cnf.jkt`). */
export async function thumbprint(keys) {
  const { crv, kty, x, y } = await publicJwk(keys);
  const canonical = JSON.stringify({ crv, kty, x, y });
  return b64url(await crypto.subtle.digest("SHA-256", utf8(canonical)));
}

/** A DPoP proof for `method` `url`; with `token`, bound to it (`ath`); with `nonce`, the
 *  server's nonce. */
export async function proof(keys, method, url, { token, nonce } = {}) {
  const htu = new URL(url, location.href);
  htu.search = "";
  htu.hash = "";
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: await publicJwk(keys) };
  const jti = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const claims = { jti, htm: method.toUpperCase(), htu: htu.href, iat: Math.floor(Date.now() / 1000) };
  if (token) claims.ath = b64url(await crypto.subtle.digest("SHA-256", utf8(token)));
  if (nonce) claims.nonce = nonce;
  const input = `${b64url(utf8(JSON.stringify(header)))}.${b64url(utf8(JSON.stringify(claims)))}`;
  // WebCrypto's ECDSA signature is r || s, which is exactly JWS's ES256 form.
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, utf8(input));
  return `${input}.${b64url(signature)}`;
}

/** Registers the key stored as `id` as session.js's proof signer; false when there is none. */
export async function install(id) {
  const keys = await loadKey(id);
  if (!keys) return false;
  useProofSigner((method, url, token, nonce) => proof(keys, method, url, { token, nonce }));
  return true;
}
