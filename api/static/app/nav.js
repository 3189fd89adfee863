// The site header on every app page: who is signed in, sign out, and the links their scopes
// open (Moderation).

import { $, announce } from "./ui.js";
import { current, hasScope, signOut, path } from "./session.js";

export function refreshNav() {
  const session = current();
  const name = $("#account-name");
  const signIn = $("#sign-in");
  const out = $("#sign-out");
  if (name) {
    name.hidden = !session;
    name.textContent = session ? `Signed in as ${session.account}` : "";
  }
  if (signIn) signIn.hidden = Boolean(session);
  if (out) out.hidden = !session;
  for (const item of document.querySelectorAll("[data-needs-scope]")) {
    item.hidden = !hasScope(item.dataset.needsScope);
  }
}

const out = $("#sign-out");
if (out) {
  out.addEventListener("click", async () => {
    await signOut();
    // Signing out on purpose also forgets the upload page's unfinished resumable uploads
    // (tus-js-client keeps their URLs and details under `tus::`); an expired session keeps
    // them, so the upload carries on after signing in again.
    try {
      for (const key of Object.keys(localStorage)) {
        if (key.startsWith("tus::")) localStorage.removeItem(key);
      }
    } catch {
      // No localStorage: nothing was kept.
    }
    announce("Signed out");
    location.assign(path("/signin?reason=signed-out"));
  });
}
window.addEventListener("voicebin:session", refreshNav);
refreshNav();
