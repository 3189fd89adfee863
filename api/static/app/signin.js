// /signin: sign in by pasting an API key. (The OAuth and one-time-link ways are added here.)

import "./nav.js";
import { $, announce, problemText } from "./ui.js";
import { claimsOf, path, problemOf, save, takeReturnTo } from "./session.js";

const form = $("#key-form");
const error = $("#key-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const token = $("#api-key").value.trim();
  const claims = claimsOf(token);
  if (!claims || typeof claims.sub !== "string") {
    error.textContent = "That is not an API key: a key looks like pbca_live_ followed by three dot-separated parts.";
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
    error.textContent = "voicebin could not be reached; check your connection and try again.";
    return;
  }
  if (!response.ok) {
    error.textContent = `The key was refused. ${problemText(await problemOf(response))}`;
    return;
  }
  save({
    token,
    scheme: "Bearer",
    account: claims.sub,
    scopes: typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : [],
    expiresAt: typeof claims.exp === "number" ? claims.exp * 1000 : null,
    via: "key",
  });
  announce(`Signed in as ${claims.sub}`);
  location.assign(takeReturnTo());
});
