// Pieces of a clip's card shared by My clips, Moderation and the view page's owner panel: its
// facts (scan and moderation state, duration, size, downloads), playing it in place, editing it
// in place and deleting it after a confirmation. Text always goes in as text.

import { el, announce, formatBytes, formatDuration, problemText } from "./ui.js";
import { api, authHeaders, path } from "./session.js";

/** Links the cards' styles, once, when a page first shows a card (the view page only does for
 *  its owner). Not an @import from the pages' own sheets: axe-core re-parses imported sheets as
 *  inline <style>, which the pages' CSP refuses. */
function useStyles() {
  if (document.querySelector("link[data-clip-ui]")) return;
  document.head.append(
    el("link", { rel: "stylesheet", href: path("/static/app/clip-ui.css"), dataset: { clipUi: "true" } }),
  );
}

/** The clip as its owner (or a moderator) reads it, with the owner-only fields, or null when
 *  this tab's session cannot: a plain fetch, not api(), since on a public page a stale token
 *  means "show nothing", never a trip to the sign-in page. */
export async function ownerView(id) {
  const url = path(`/api/v1/items/${encodeURIComponent(id)}`);
  const response = await fetch(url, { headers: { Accept: "application/json", ...(await authHeaders("GET", url)) } });
  if (!response.ok) return null;
  const item = await response.json();
  return item.scan_state ? item : null;
}

/** Links the owner panel's styles (pages outside the app, which use view.css). */
export function useOwnerStyles() {
  if (document.querySelector("link[data-owner-panel]")) return;
  document.head.append(
    el("link", { rel: "stylesheet", href: path("/static/app/owner.css"), dataset: { ownerPanel: "true" } }),
  );
}

const SCAN_WORDS = {
  pending: "Being scanned",
  clean: "Clean",
  infected: "Infected: not served",
  rejected: "Rejected: not served",
  failed: "Scan failed: not served",
};

const MODERATION_WORDS = {
  visible: "Visible",
  hidden: "Hidden after reports, until a moderator decides",
  blocked: "Blocked by a moderator",
  removed: "Removed by a moderator",
};

/** The clip's title as people see it. */
export function titleOf(item) {
  return item.title || item.filename || item.id;
}

/** "3 of 10" / "3 (no limit)" */
export function downloadsText(item) {
  const count = item.download_count ?? 0;
  if (item.download_limit === null || item.download_limit === undefined) {
    return `${count} (no limit)`;
  }
  return `${count} of ${item.download_limit}`;
}

/** "Never", or the local date and time the clip expires. */
export function expiryText(item) {
  return item.expires_at ? new Date(item.expires_at).toLocaleString() : "Never";
}

/** An instant as a `datetime-local` input's value (local time, to the minute); "" for none. */
function localInputValue(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The scan state in words, with the scan's reason when it did not end clean. */
export function scanText(item) {
  const words = SCAN_WORDS[item.scan_state] || item.scan_state || "Unknown";
  return item.scan_detail && item.scan_state !== "clean" ? `${words} (${item.scan_detail})` : words;
}

/** The moderation state in words, with the moderator's reason. */
export function moderationText(item) {
  const m = item.moderation || { state: "visible" };
  const words = MODERATION_WORDS[m.state] || m.state;
  return m.reason && m.state !== "visible" ? `${words}: ${m.reason}` : words;
}

/** A description list of the clip's facts; `dl.update(item)` refreshes it. */
export function factList(item) {
  useStyles();
  const dl = el("dl", { class: "facts" });
  dl.update = (it) => {
    const rows = [
      ["Scan", scanText(it), `scan-${it.scan_state}`],
      ["Moderation", moderationText(it), `moderation-${(it.moderation || {}).state || "visible"}`],
      ["Duration", formatDuration(it.duration_ms) || "not known yet"],
      ["Size", formatBytes(it.size_bytes)],
      ["Downloads", downloadsText(it), "downloads"],
      ["Uploaded", new Date(it.created_at).toLocaleString()],
      ["Expires", expiryText(it), "expires"],
    ];
    dl.replaceChildren(
      ...rows.flatMap(([term, value, name]) => [
        el("dt", {}, term),
        el("dd", { dataset: name ? { fact: name } : undefined }, value),
      ]),
    );
  };
  dl.update(item);
  return dl;
}

/**
 * A "Play" button and the `<audio>` it fills: the clip plays in place, whatever its state, with
 * a short-lived playback URL the API issues to this browser for the owner or a moderator (an
 * `<audio>` element cannot send the token, and a pending or blocked clip is not public).
 */
export function playInPlace(item, label = "Play") {
  useStyles();
  const wrap = el("div", { class: "play" });
  const audio = el("audio", { controls: true, preload: "none", hidden: true });
  audio.setAttribute("aria-label", `Player: ${titleOf(item)}`);
  const status = el("span", { class: "hint", role: "status" });
  const button = el("button", { type: "button", class: "secondary" }, label);
  button.setAttribute("aria-label", `${label} ${titleOf(item)}`);
  let expires = 0;
  let renewedAt = 0;
  const renew = async () => {
    const pass = await api(`/api/v1/items/${encodeURIComponent(item.id)}/playback`, {
      method: "POST",
    });
    expires = Date.parse(pass.expires_at);
    audio.src = pass.url;
  };
  // The URL expired (or the network changed) while the player was open: ask for a new one and
  // carry on from where it stopped, once a minute at most.
  audio.addEventListener("error", async () => {
    if (!audio.src || Date.now() - renewedAt < 60_000) return;
    renewedAt = Date.now();
    const at = audio.currentTime;
    try {
      await renew();
      audio.currentTime = at;
      await audio.play();
    } catch {
      status.textContent = "Playback stopped; press Play to try again.";
    }
  });
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.className = "hint";
    status.textContent = "Loading…";
    try {
      if (!audio.src || Date.now() > expires - 5000) await renew();
      audio.hidden = false;
      await audio.play();
      status.textContent = "";
    } catch (e) {
      status.textContent = `Cannot play: ${problemText(e)}`;
      status.className = "error";
    } finally {
      button.disabled = false;
    }
  });
  wrap.append(button, status, audio);
  return wrap;
}

let formCount = 0;

/**
 * An edit form for the clip's title, description, download limit and expiry, hidden until
 * `open()`.
 * `onSaved(item)` gets the clip as the API returns it after the change.
 */
export function editForm(item, onSaved) {
  useStyles();
  const n = (formCount += 1);
  const field = (name, label, input, hint) => {
    const id = `edit-${name}-${n}`;
    input.id = id;
    input.name = name;
    const parts = [el("label", { for: id }, label), input];
    if (hint) {
      const hintId = `${id}-hint`;
      input.setAttribute("aria-describedby", hintId);
      parts.push(el("p", { class: "hint", id: hintId }, hint));
    }
    return parts;
  };
  const title = el("input", { type: "text", maxlength: 200, autocomplete: "off" });
  const description = el("textarea", { maxlength: 5000 });
  const limit = el("input", { type: "number", min: 1, max: 1000000000, step: 1, inputmode: "numeric" });
  const expires = el("input", { type: "datetime-local" });
  const message = el("p", { class: "hint", role: "status" });
  const save = el("button", { type: "submit" }, "Save");
  const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
  const form = el(
    "form",
    { class: "edit panel", hidden: true },
    el("h3", {}, `Edit ${titleOf(item)}`),
    ...field("title", "Title", title),
    ...field("description", "Description", description),
    ...field("download_limit", "Download limit", limit, "Downloads allowed to others; empty for no limit."),
    ...field(
      "expires_at",
      "Expires",
      expires,
      "Your local time. After it the clip is gone for everyone and its audio deleted; empty: never.",
    ),
    el("div", { class: "actions" }, save, cancel),
    message,
  );
  const fill = (it) => {
    title.value = it.title || "";
    description.value = it.description || "";
    limit.value = it.download_limit ?? "";
    expires.value = localInputValue(it.expires_at);
  };
  let opener = null;
  form.open = (from) => {
    opener = from || null;
    fill(item);
    message.textContent = "";
    form.hidden = false;
    title.focus();
  };
  const close = () => {
    form.hidden = true;
    if (opener) opener.focus();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = limit.value.trim();
    if (raw !== "" && !/^[0-9]+$/.test(raw)) {
      message.className = "error";
      message.textContent = "The download limit must be a whole number.";
      limit.focus();
      return;
    }
    const patch = {
      title: title.value.trim() === "" ? null : title.value,
      description: description.value.trim() === "" ? null : description.value,
      download_limit: raw === "" ? null : Number(raw),
    };
    // The input holds minutes only: an untouched expiry is left out (kept as it is).
    if (expires.value !== localInputValue(item.expires_at)) {
      const at = expires.value === "" ? null : new Date(expires.value);
      if (at !== null && Number.isNaN(at.getTime())) {
        message.className = "error";
        message.textContent = "The expiry must be a date and time.";
        expires.focus();
        return;
      }
      patch.expires_at = at === null ? null : at.toISOString();
    }
    save.disabled = true;
    message.className = "hint";
    message.textContent = "Saving…";
    try {
      const updated = await api(`/api/v1/items/${encodeURIComponent(item.id)}`, {
        method: "PATCH",
        json: patch,
      });
      Object.assign(item, updated);
      message.textContent = "";
      onSaved(updated);
      announce(`Saved ${titleOf(updated)}`);
      close();
    } catch (e) {
      message.className = "error";
      message.textContent = `Not saved: ${problemText(e)}`;
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

/** Deletes the clip with the tab's session. */
function deleteWithSession(item) {
  return api(`/api/v1/items/${encodeURIComponent(item.id)}`, { method: "DELETE" });
}

/**
 * A "Delete" button that asks first, in place: "Really delete?" with the confirming button
 * focused (Escape or "Keep it" goes back). `onDeleted()` runs once `remove(item)` (by default
 * the API with the tab's session) has deleted it.
 */
export function deleteControl(item, onDeleted, remove = deleteWithSession) {
  useStyles();
  const wrap = el("div", { class: "delete" });
  const start = el("button", { type: "button", class: "secondary" }, "Delete");
  start.setAttribute("aria-label", `Delete ${titleOf(item)}`);
  const yes = el("button", { type: "button", class: "danger" }, "Yes, delete it");
  const no = el("button", { type: "button", class: "secondary" }, "Keep it");
  const question = el("p", { class: "confirm-question" }, `Really delete “${titleOf(item)}”? This cannot be undone.`);
  const message = el("p", { role: "status", class: "hint" });
  const confirm = el(
    "div",
    { class: "confirm", role: "group", hidden: true },
    question,
    el("div", { class: "actions" }, yes, no),
  );
  const questionId = `confirm-${item.id}-${(formCount += 1)}`;
  question.id = questionId;
  confirm.setAttribute("aria-labelledby", questionId);
  const back = () => {
    confirm.hidden = true;
    start.hidden = false;
    start.focus();
  };
  start.addEventListener("click", () => {
    start.hidden = true;
    confirm.hidden = false;
    message.textContent = "";
    yes.focus();
  });
  no.addEventListener("click", back);
  confirm.addEventListener("keydown", (event) => {
    if (event.key === "Escape") back();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    no.disabled = true;
    try {
      await remove(item);
      announce(`Deleted ${titleOf(item)}`);
      onDeleted();
    } catch (e) {
      message.className = "error";
      message.textContent = `Not deleted: ${problemText(e)}`;
      back();
    } finally {
      yes.disabled = false;
      no.disabled = false;
    }
  });
  wrap.append(start, confirm, message);
  return wrap;
}
