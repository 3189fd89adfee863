// `/{id}/manage`: an anonymous upload's own page. The management token is the link's fragment
// (never sent to the server by the browser); it goes to the API as `x-management-token`, which
// reads the clip as its owner would and deletes it.
import "./nav.js";
import { $, problemText } from "./ui.js";
import { path, problemOf, Problem } from "./session.js";
import { deleteControl, factList, titleOf } from "./clip-ui.js";

const id = document.body.dataset.clip;
const token = decodeURIComponent(location.hash.slice(1));
const status = $("#manage-status");
const url = path(`/api/v1/items/${encodeURIComponent(id)}`);

function say(text, error = false) {
  status.textContent = text;
  status.className = error ? "error" : "";
}

async function call(method) {
  let response;
  try {
    response = await fetch(url, { method, headers: { Accept: "application/json", "x-management-token": token } });
  } catch {
    throw new Problem(0, { title: "Network error", detail: "voicebin could not be reached; check your connection and try again." });
  }
  if (!response.ok) throw await problemOf(response);
  return method === "GET" ? response.json() : null;
}

function gone() {
  $("#manage-clip").hidden = true;
  say("This clip is gone: it was deleted or has expired.");
}

let facts = null;

async function refresh() {
  const item = await call("GET");
  $("#manage-title").textContent = titleOf(item);
  if (!facts) {
    facts = factList(item);
    $("#manage-facts").replaceChildren(facts);
    $("#manage-delete").replaceChildren(
      deleteControl(item, () => {
        gone();
        say("Deleted: the clip is no longer served and its audio is erased.");
      }, () => call("DELETE")),
    );
  } else {
    facts.update(item);
  }
  // A clip that did not pass its checks is never served: its page would only say "not found".
  $("#manage-view").hidden = item.scan_state !== "clean";
  $("#manage-clip").hidden = false;
  say("");
  return item;
}

async function load() {
  if (!token) {
    say("This link has no management token. Use the whole link you were given when you uploaded: the part after # is the key.", true);
    return;
  }
  let delay = 1000;
  for (;;) {
    let item;
    try {
      item = await refresh();
    } catch (error) {
      if (error.status === 410) return gone();
      return say(`This clip cannot be managed with this link: ${problemText(error)}`, true);
    }
    // While the clip is being checked, look again now and then.
    if (item.scan_state !== "pending") return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(8000, delay * 1.6);
  }
}

load();
