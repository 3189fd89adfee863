// My clips: the signed-in person's clips, newest first, searchable, a page at a time; each can
// be played in place, edited in place, deleted after a confirmation, and its links copied.
// A search (full text over title, filename, description and what was said) shows where each
// clip matched: a snippet with the hits marked, and for a spoken hit a link that opens the
// view page at that moment (/{id}#t=SECONDS). Above the list, what the clips take of the
// account's quota (GET /api/v1/account), kept current as clips are deleted.

import "./nav.js";
import { $, el, copyButton, formatBytes, formatDuration, problemText } from "./ui.js";
import { api, current, goSignIn, hasScope } from "./session.js";
import { deleteControl, editForm, factList, playInPlace, titleOf } from "./clip-ui.js";

// The page's address may choose the page size and the search: /clips?limit=50&q=interview.
const wanted = new URLSearchParams(location.search);
const asked = Number(wanted.get("limit"));
const PAGE_SIZE = Number.isInteger(asked) && asked >= 1 && asked <= 100 ? asked : 20;

const status = $("#clips-status");
const section = $("#clips");
const list = $("#clip-list");
const more = $("#clips-more");
const search = $("#clips-search");
const q = $("#clips-q");
const usageLine = $("#clips-usage");

let cursor = null;
let query = (wanted.get("q") || "").trim();
q.value = query;
// The request for the list in flight: a new search or filter replaces it.
let inflight = null;

function say(text, kind = "") {
  status.textContent = text;
  status.className = kind;
}

const WHERE = {
  title: "Title",
  filename: "Filename",
  description: "Description",
  transcript: "Said",
};

/** What the account's clips take, and of how much: "12 of 500 clips, 34 MB of 500 MB". */
function usageText(account) {
  const { usage, limits } = account;
  const clips = limits.clips === null
    ? `${usage.clips} clip${usage.clips === 1 ? "" : "s"}`
    : `${usage.clips} of ${limits.clips} clip${limits.clips === 1 ? "" : "s"}`;
  const bytes = limits.bytes === null
    ? formatBytes(usage.bytes)
    : `${formatBytes(usage.bytes)} of ${formatBytes(limits.bytes)}`;
  const full = (limits.clips !== null && usage.clips >= limits.clips)
    || (limits.bytes !== null && usage.bytes >= limits.bytes);
  return `Your storage: ${clips}, ${bytes}${full ? " — full: delete clips to upload more" : ""}.`;
}

/** Shows what the account's clips take; a failure leaves the line out (the list says why). */
async function showUsage() {
  try {
    const account = await api("/api/v1/account");
    usageLine.textContent = usageText(account);
    usageLine.hidden = false;
  } catch {
    usageLine.hidden = true;
  }
}

/** Where a searched clip matched: the field, the snippet (server text as text nodes, hits in
 *  <mark>, never parsed as HTML) and, for what was said, a link to that moment. */
function matchLine(item) {
  const found = item.match;
  if (!found) return null;
  const snippet = el(
    "span",
    { class: "snippet" },
    found.snippet.map((part) => (part.hit ? el("mark", {}, part.text) : part.text)),
  );
  const line = el("p", { class: "match", dataset: { field: found.field } });
  if (found.field === "transcript" && Number.isFinite(found.at_ms)) {
    const seconds = Math.floor(found.at_ms / 1000);
    const at = formatDuration(seconds * 1000);
    const link = el("a", { href: `${item.urls.view}#t=${seconds}` }, `Play from ${at}`);
    // The accessible name starts with the visible words, then says which clip.
    link.setAttribute("aria-label", `Play from ${at}: ${titleOf(item)}`);
    line.append(el("span", { class: "where" }, `Said at ${at}:`), " ", snippet, " ", link);
  } else {
    line.append(el("span", { class: "where" }, `${WHERE[found.field] || "Match"}:`), " ", snippet);
  }
  return line;
}

/** Whether the clip's page is there for this browser (which sends no token to it): a clean,
 *  visible clip with downloads left. For the others it would say "not found" or "gone". */
function hasPage(item) {
  const limit = item.download_limit;
  const usedUp = limit !== null && limit !== undefined && (item.download_count ?? 0) >= limit;
  return item.scan_state === "clean" && (item.moderation || {}).state === "visible" && !usedUp;
}

/** Whether a moderator removed the clip (for good). */
function removed(item) {
  return (item.moderation || {}).state === "removed";
}

/** Moves the focus to a clip's card: its title's link, or its first button (a removed clip
 *  has neither: then the search box). */
function focusCard(li) {
  (li.querySelector("h3 a") || li.querySelector("button") || q).focus();
}

/** One clip's card. Its title links to the clip's page when there is one for it. */
function card(item) {
  const title = (it) => (hasPage(it) ? el("a", { href: it.urls.view }, titleOf(it)) : titleOf(it));
  const heading = el("h3", {}, title(item));
  const facts = factList(item);
  const description = el("p", { class: "description" }, item.description || "");
  description.hidden = !item.description;
  const refresh = (updated) => {
    heading.replaceChildren(title(updated));
    facts.update(updated);
    description.textContent = updated.description || "";
    description.hidden = !updated.description;
  };
  const form = editForm(item, refresh);
  const edit = el("button", { type: "button", class: "secondary" }, "Edit");
  edit.setAttribute("aria-label", `Edit ${titleOf(item)}`);
  edit.addEventListener("click", () => form.open(edit));
  const li = el("li", { class: "clip", dataset: { id: item.id } });
  const removeCard = () => {
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    say(`Deleted “${titleOf(item)}”.`, "ok");
    // Focus stays in the list: on the neighbouring clip's title, or on the search box.
    if (next) focusCard(next);
    else q.focus();
    if (!list.children.length && !cursor) say("Deleted. You have no clips here any more.", "ok");
    showUsage();
  };
  li.append(
    el(
      "article",
      { "aria-label": titleOf(item) },
      heading,
      matchLine(item),
      description,
      facts,
      ...(removed(item)
        ? // Its audio is purged and the API refuses edits and deletion: nothing to offer.
          [el("p", { class: "hint" }, "A removal is final: this clip can no longer be played, edited or deleted.")]
        : [
            playInPlace(item),
            el(
              "div",
              { class: "actions" },
              edit,
              copyButton("Copy view link", () => item.urls.view),
              copyButton("Copy download link", () => item.urls.download),
            ),
            form,
            deleteControl(item, removeCard),
          ]),
    ),
  );
  return li;
}

async function load({ append }) {
  if (append && inflight) return;
  if (inflight) inflight.abort();
  const controller = new AbortController();
  inflight = controller;
  more.disabled = true;
  list.setAttribute("aria-busy", "true");
  say(append ? "Loading more clips…" : "Loading your clips…");
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (query) params.set("q", query);
  if (append && cursor) params.set("cursor", cursor);
  try {
    const page = await api(`/api/v1/account/items?${params}`, { signal: controller.signal });
    if (!append) list.replaceChildren();
    const first = list.children.length;
    for (const item of page.items) list.append(card(item));
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
    const shown = list.children.length;
    if (!shown) {
      say(query ? `No clips match “${query}”.` : "You have no clips yet. Upload one from the Upload page.");
    } else {
      say(`${shown} clip${shown === 1 ? "" : "s"}${query ? ` matching “${query}”` : ""}${cursor ? ", more below" : ""}.`);
    }
    if (append && list.children[first]) focusCard(list.children[first]);
  } catch (e) {
    if (e && e.name === "AbortError") return;
    if (e && e.problem && e.problem.field === "q") {
      // A search with nothing to look for (only punctuation, or only -exclusions).
      list.replaceChildren();
      more.hidden = true;
      say(`Nothing to search for in “${query}”: ${e.problem.detail || e.problem.title}`, "error");
      q.focus();
      return;
    }
    say(`Your clips could not be loaded: ${problemText(e)}`, "error");
  } finally {
    if (inflight === controller) {
      inflight = null;
      more.disabled = false;
      list.removeAttribute("aria-busy");
    }
  }
}

function start() {
  const session = current();
  if (!session) {
    $("#clips-signed-out").hidden = false;
    section.hidden = true;
    say("");
    return;
  }
  if (!hasScope("voice:read")) {
    say("This sign-in cannot list clips: it lacks the voice:read scope. Sign in with a key or account that has it.", "error");
    return;
  }
  section.hidden = false;
  showUsage();
  load({ append: false });
}

$("#clips-sign-in").addEventListener("click", (event) => {
  event.preventDefault();
  goSignIn();
});
search.addEventListener("submit", (event) => {
  event.preventDefault();
  query = q.value.trim();
  cursor = null;
  load({ append: false });
});
more.addEventListener("click", () => load({ append: true }));

start();
