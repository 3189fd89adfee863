// Moderation (scope voice:moderate): the report queue, the clip longest reported first; each
// clip with its reports, played in place, its history on request, and the decisions (block,
// restore, remove) taken with a reason the owner will see.

import "./nav.js";
import { $, el, announce, problemText } from "./ui.js";
import { api, current, goSignIn, hasScope } from "./session.js";
import { factList, playInPlace, titleOf } from "./clip-ui.js";

const PAGE_SIZE = 20;

const REASONS = {
  malware: "Malware",
  copyright: "Copyright",
  harassment: "Harassment",
  illegal_content: "Illegal content",
  spam: "Spam",
  other: "Other",
};

const DECISIONS = [
  { name: "block", label: "Block", done: "Blocked", hint: "only the owner and moderators see it until restored" },
  { name: "restore", label: "Restore", done: "Restored", hint: "public again; open reports dismissed" },
  { name: "remove", label: "Remove", done: "Removed", hint: "final: the audio is purged and can never be uploaded again" },
];

const status = $("#moderation-status");
const section = $("#queue");
const list = $("#queue-list");
const more = $("#queue-more");
const filter = $("#queue-filter");
const stateSelect = $("#queue-state");

let cursor = null;
// The request for the list in flight: a new search or filter replaces it.
let inflight = null;
let counter = 0;

function say(text, kind = "") {
  status.textContent = text;
  status.className = kind;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function reportList(reports) {
  return el(
    "ul",
    { class: "reports" },
    reports.map((r) =>
      el(
        "li",
        {},
        el("strong", {}, REASONS[r.reason] || r.reason),
        ` — ${r.reporter}, ${when(r.reported_at)}`,
        r.state === "resolved" ? ` (resolved: ${r.resolution || "closed"})` : "",
        r.note ? el("blockquote", {}, r.note) : null,
      ),
    ),
  );
}

/** The clip's history, loaded when asked for. */
function historyControl(item) {
  const n = (counter += 1);
  const box = el("div", { class: "history", id: `history-${n}`, hidden: true });
  const button = el("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": box.id }, "Show history");
  button.setAttribute("aria-label", `Show history of ${titleOf(item)}`);
  button.addEventListener("click", async () => {
    if (!box.hidden) {
      box.hidden = true;
      button.setAttribute("aria-expanded", "false");
      button.textContent = "Show history";
      button.setAttribute("aria-label", `Show history of ${titleOf(item)}`);
      return;
    }
    button.disabled = true;
    box.replaceChildren(el("p", { class: "hint" }, "Loading history…"));
    box.hidden = false;
    try {
      const events = [];
      let next = null;
      do {
        const query = next ? `?cursor=${encodeURIComponent(next)}` : "";
        const page = await api(`/api/v1/items/${encodeURIComponent(item.id)}/history${query}`);
        events.push(...page.items);
        next = page.next_cursor || null;
      } while (next && events.length < 2000);
      box.replaceChildren(
        el("h4", {}, `History of ${titleOf(item)}`),
        el(
          "ol",
          { class: "events" },
          events.map((e) => {
            const actor = e.actor ? `${e.actor.kind}${e.actor.id ? ` ${e.actor.id}` : ""}` : "";
            const detail = e.payload && (e.payload.reason || e.payload.verdict || e.payload.state);
            return el(
              "li",
              {},
              el("strong", {}, e.type),
              ` ${when(e.time)}`,
              actor ? ` by ${actor}` : "",
              typeof detail === "string" ? ` — ${detail}` : "",
            );
          }),
        ),
      );
      button.setAttribute("aria-expanded", "true");
      button.textContent = "Hide history";
      button.setAttribute("aria-label", `Hide history of ${titleOf(item)}`);
    } catch (e) {
      box.replaceChildren(el("p", { class: "error" }, `History could not be loaded: ${problemText(e)}`));
    } finally {
      button.disabled = false;
    }
  });
  return [button, box];
}

/** The reason field and the three decisions. Remove asks once more: it cannot be undone. */
function decisionForm(item, onDecided) {
  const n = (counter += 1);
  const reasonId = `reason-${n}`;
  const reason = el("textarea", { id: reasonId, name: "reason", maxlength: 500, required: true, "aria-describedby": `${reasonId}-hint` });
  const message = el("p", { role: "status", class: "hint" });
  const buttons = DECISIONS.map((d) => {
    const button = el("button", { type: "button", class: d.name === "restore" ? "secondary" : "danger", dataset: { decision: d.name } }, d.label);
    button.setAttribute("aria-label", `${d.label} ${titleOf(item)}`);
    return button;
  });
  const confirmYes = el("button", { type: "button", class: "danger" }, "Yes, remove it for good");
  const confirmNo = el("button", { type: "button", class: "secondary" }, "Cancel");
  const confirmText = el("p", { id: `confirm-remove-${n}` }, `Remove “${titleOf(item)}”? Its audio is purged and the same file can never be uploaded again.`);
  const confirm = el("div", { class: "confirm", role: "group", "aria-labelledby": confirmText.id, hidden: true }, confirmText, el("div", { class: "actions" }, confirmYes, confirmNo));
  const row = el("div", { class: "actions" }, buttons);

  const decide = async (decision, opener) => {
    const why = reason.value.trim();
    if (!why) {
      message.className = "error";
      message.textContent = "Give a reason: the owner will see it.";
      reason.focus();
      return;
    }
    for (const b of buttons) b.disabled = true;
    message.className = "hint";
    message.textContent = "Saving the decision…";
    try {
      const updated = await api(`/api/v1/moderation/items/${encodeURIComponent(item.id)}/${decision.name}`, {
        method: "POST",
        json: { reason: why },
      });
      message.className = "ok";
      message.textContent = `${decision.done}: ${titleOf(updated)}.`;
      announce(`${decision.done} ${titleOf(updated)}`);
      reason.value = "";
      onDecided(updated);
    } catch (e) {
      message.className = "error";
      message.textContent = `Not saved: ${problemText(e)}`;
    } finally {
      for (const b of buttons) b.disabled = false;
      if (opener) opener.focus();
    }
  };

  buttons.forEach((button, i) => {
    const decision = DECISIONS[i];
    button.addEventListener("click", () => {
      if (decision.name !== "remove") {
        decide(decision, button);
        return;
      }
      if (!reason.value.trim()) {
        decide(decision, button);
        return;
      }
      row.hidden = true;
      confirm.hidden = false;
      confirmYes.focus();
    });
  });
  const back = () => {
    confirm.hidden = true;
    row.hidden = false;
    buttons[2].focus();
  };
  confirmNo.addEventListener("click", back);
  confirm.addEventListener("keydown", (event) => {
    if (event.key === "Escape") back();
  });
  confirmYes.addEventListener("click", async () => {
    confirm.hidden = true;
    row.hidden = false;
    await decide(DECISIONS[2], buttons[2]);
  });

  return el(
    "form",
    { class: "decide panel" },
    el("h4", {}, "Decide"),
    el("label", { for: reasonId }, "Reason (the owner sees it)"),
    reason,
    el("p", { class: "hint", id: `${reasonId}-hint` }, DECISIONS.map((d) => `${d.label}: ${d.hint}.`).join(" ")),
    row,
    confirm,
    message,
  );
}

function card(entry) {
  const item = entry.clip;
  const about = entry.reports.length
    ? `Owner ${entry.owner} · ${entry.report_count} report${entry.report_count === 1 ? "" : "s"}, first ${when(entry.first_reported_at)}`
    : "Opened by its address: no reports";
  const facts = factList(item);
  const [historyButton, historyBox] = historyControl(item);
  const form = decisionForm(item, (updated) => facts.update(updated));
  form.addEventListener("submit", (event) => event.preventDefault());
  return el(
    "li",
    { class: "clip", dataset: { id: item.id } },
    el(
      "article",
      { "aria-label": titleOf(item) },
      el("h3", {}, el("a", { href: item.urls.view }, titleOf(item))),
      el("p", { class: "hint" }, about),
      facts,
      playInPlace(item),
      entry.reports.length ? reportList(entry.reports) : null,
      el("div", { class: "actions" }, historyButton),
      historyBox,
      form,
    ),
  );
}

async function load({ append }) {
  if (append && inflight) return;
  if (inflight) inflight.abort();
  const controller = new AbortController();
  inflight = controller;
  more.disabled = true;
  list.setAttribute("aria-busy", "true");
  say("Loading the report queue…");
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), state: stateSelect.value });
  if (append && cursor) params.set("cursor", cursor);
  try {
    const page = await api(`/api/v1/moderation/reports?${params}`, { signal: controller.signal });
    if (!append) list.replaceChildren();
    const first = list.children.length;
    for (const entry of page.items) list.append(card(entry));
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
    const shown = list.children.length;
    say(shown ? `${shown} reported clip${shown === 1 ? "" : "s"}${cursor ? ", more below" : ""}.` : "No reports to review.");
    if (append && list.children[first]) list.children[first].querySelector("h3 a").focus();
  } catch (e) {
    if (e && e.name === "AbortError") return;
    say(`The report queue could not be loaded: ${problemText(e)}`, "error");
  } finally {
    if (inflight === controller) {
      inflight = null;
      more.disabled = false;
      list.removeAttribute("aria-busy");
    }
  }
}

// ---- Any clip, by its address ----------------------------------------------------------------

const lookupStatus = $("#lookup-status");
const lookupList = $("#lookup-list");

/** The clip id in what was typed: an id, or a view, embed, audio or download address. */
function clipIdOf(text) {
  const value = text.trim();
  let pathname = value;
  try {
    pathname = new URL(value, location.href).pathname;
  } catch {
    // Not an address: an id.
  }
  const parts = pathname.split("/").filter(Boolean);
  const known = ["embed", "audio", "download", "waveform", "transcript.vtt"];
  if (parts.length >= 2 && known.includes(parts[parts.length - 1])) return parts[parts.length - 2];
  return parts[parts.length - 1] || "";
}

async function lookUp(text) {
  const id = clipIdOf(text);
  lookupList.replaceChildren();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    lookupStatus.className = "error";
    lookupStatus.textContent = "That is not a clip's address or id.";
    return;
  }
  lookupStatus.className = "";
  lookupStatus.textContent = "Opening the clip…";
  try {
    const item = await api(`/api/v1/items/${encodeURIComponent(id)}`);
    lookupList.append(card({ clip: item, reports: [] }));
    lookupStatus.textContent = `Opened ${titleOf(item)}.`;
    lookupList.querySelector("h3 a").focus();
  } catch (e) {
    lookupStatus.className = "error";
    lookupStatus.textContent = `The clip could not be opened: ${problemText(e)}`;
  }
}

$("#lookup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  lookUp($("#lookup-clip").value);
});

function start() {
  if (!current()) {
    $("#moderation-signed-out").hidden = false;
    return;
  }
  if (!hasScope("voice:moderate")) {
    say("Your sign-in cannot moderate: the report queue needs the voice:moderate scope. Ask the operator for a moderator's key.", "error");
    return;
  }
  section.hidden = false;
  $("#lookup").hidden = false;
  load({ append: false });
  // /moderation?clip=ID (a clip's page links here for a moderator) opens that clip too.
  const asked = new URLSearchParams(location.search).get("clip");
  if (asked) {
    $("#lookup-clip").value = asked;
    lookUp(asked);
  }
}

$("#moderation-sign-in").addEventListener("click", (event) => {
  event.preventDefault();
  goSignIn();
});
filter.addEventListener("submit", (event) => {
  event.preventDefault();
  cursor = null;
  load({ append: false });
});
more.addEventListener("click", () => load({ append: true }));

start();
