// The view page's owner panel. The page is the same for everyone; when this tab holds a
// session that reads the clip as its owner (GET /api/v1/items/{id} answers with the owner-only
// fields), the hidden panel is filled in: scan state, downloads and limit, edit and delete.
// Signed out, or someone else's clip: nothing happens, and the page stays as it was.

import { el, announce, problemText } from "./ui.js";
import { current, hasScope, path } from "./session.js";
import { deleteControl, editForm, factList, ownerView, titleOf, useOwnerStyles } from "./clip-ui.js";

const panel = document.getElementById("owner-panel");

async function start() {
  const id = panel && panel.dataset.clip;
  if (!id || !current() || !hasScope("voice:read")) return;
  let item;
  try {
    item = await ownerView(id);
  } catch {
    return;
  }
  if (!item) return;
  // A moderator reads every clip with its owner's fields but cannot edit someone else's.
  const moderating = hasScope("voice:moderate");
  useOwnerStyles();
  const title = document.getElementById("title");
  const description = document.querySelector("main .description");
  const facts = factList(item);
  const refresh = (updated) => {
    facts.update(updated);
    if (title) title.textContent = titleOf(updated);
    if (description) description.textContent = updated.description || "";
    document.title = `${titleOf(updated)} · voicebin`;
  };
  const message = el("p", { role: "status", class: "hint" });
  const children = [
    el("h2", { id: "owner-heading" }, moderating ? "Moderator's view" : "Your clip"),
    facts,
  ];
  if (moderating) {
    // The API does not say whose clip this is; a moderator edits their own clips from My
    // clips, and decides about others' in Moderation.
    children.push(el("p", {}, el("a", { href: path("/moderation") }, "Moderation")));
  }
  if (!moderating && hasScope("voice:create")) {
    const form = editForm(item, refresh);
    const edit = el("button", { type: "button", class: "secondary", id: "owner-edit" }, "Edit title, description or limit");
    edit.addEventListener("click", () => form.open(edit));
    children.push(el("div", { class: "actions" }, edit), form);
  }
  if (!moderating && hasScope("voice:delete")) {
    children.push(
      deleteControl(item, () => {
        message.className = "ok";
        message.textContent = "Deleted. Going to My clips…";
        announce("Deleted");
        setTimeout(() => location.assign(path("/clips")), 1200);
      }),
    );
  }
  children.push(message, el("p", {}, el("a", { href: path("/clips") }, "All my clips")));
  panel.replaceChildren(...children);
  panel.hidden = false;
  panel.dataset.ready = "true";
}

start().catch((e) => {
  // The public page must keep working whatever happens here.
  console.warn("owner panel:", problemText(e));
});
