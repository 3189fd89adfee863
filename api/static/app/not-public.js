// The page a clip's address shows when the clip is not public (being scanned, rejected,
// hidden, blocked, …). The server says "not found" to everyone, since a browser opening a page
// sends no token; when this tab's session reads the clip (GET /api/v1/items/{id} answers, as it
// does for the owner and for moderators), the page says why the clip is not public, shows its
// facts and lets them play it. Anyone else: nothing happens, and the page stays as it was.

import { el } from "./ui.js";
import { current, hasScope, path } from "./session.js";
import { factList, moderationText, ownerView, playInPlace, scanText, titleOf, useOwnerStyles } from "./clip-ui.js";

const box = document.getElementById("not-public");

/** Why a clip its owner can read is not public, in words. */
function reasonOf(item) {
  const moderation = (item.moderation || {}).state || "visible";
  if (moderation !== "visible") return moderationText(item);
  if (item.scan_state !== "clean") return scanText(item);
  return "it cannot be served now";
}

async function start() {
  const id = box && box.dataset.clip;
  if (!id || !current() || !hasScope("voice:read")) return;
  let item;
  try {
    item = await ownerView(id);
  } catch {
    return;
  }
  if (!item) return;
  useOwnerStyles();
  const title = titleOf(item);
  document.title = `${title} · voicebin`;
  document.querySelector("h1").textContent = title;
  document.getElementById("error-text").textContent =
    `This clip is not public: ${reasonOf(item)}. Others get "not found" here; you see it because ` +
    "you are signed in as its owner or as a moderator.";
  const moderating = hasScope("voice:moderate");
  box.replaceChildren(
    el("h2", { id: "not-public-heading" }, moderating ? "Moderator's view" : "Your clip"),
    factList(item),
    playInPlace(item),
    el(
      "p",
      {},
      moderating
        ? el("a", { href: path(`/moderation?clip=${encodeURIComponent(item.id)}`) }, "Decide about it in Moderation")
        : el("a", { href: path("/clips") }, "All my clips"),
    ),
  );
  box.setAttribute("aria-labelledby", "not-public-heading");
  box.hidden = false;
  box.dataset.ready = "true";
}

start();
