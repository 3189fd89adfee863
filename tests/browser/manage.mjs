// My clips, the view page's owner panel and Moderation in a real browser (chromium through
// playwright-core, firefox-esr through puppeteer-core; see drivers.mjs).
//
//   node tests/browser/manage.mjs <config.json> [chromium|firefox]
//
// config.json (written by tests/api/webapp_manage.rs): { base, owner, moderator, clips: {
// alpha, beta, gamma, delta, epsilon }, artifacts }, where owner and moderator are sessions as
// session.js keeps them in sessionStorage["voicebin.session"]. An init script signs the tab in:
// as the moderator on /moderation, as the owner everywhere else.
//
// Steps: My clips pages through the five clips two at a time, then lists them; a search narrows the list and clearing it brings them
// back; alpha's title and limit are edited in place; gamma is deleted after the in-place
// confirmation (which takes the keyboard focus); beta plays in place; the view page of alpha
// shows the owner panel, whose edit changes the title; Moderation shows delta (reported), plays
// it, blocks it with a reason, then plays it again (blocked) and shows its history, and
// removes epsilon (reported) after a second confirmation; beta, never reported, is opened by its
// address, blocked, and restored from /moderation?clip=; delta's own page, "not found" to
// others, tells its owner it is blocked and why and plays it; signed out, My clips asks to sign in;
// without voice:moderate, Moderation says so. The Rust
// test checks the results through the API. Prints what it observed as JSON; exits non-zero on
// failure.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { BROWSERS, launch } from "./drivers.mjs";
import { audit } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/manage.mjs <config.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { base, clips } = config;

const SETUP_HINT = "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`)";
const STEP_TIMEOUT_MS = 15_000;
const OVERALL_TIMEOUT_MS = 100_000;

const observed = { browser: browserName, steps: [], consoleErrors: [], pageErrors: [], cspViolations: [] };
const failures = [];

function check(ok, message, details) {
  observed.steps.push({ check: message, ok, ...(details === undefined ? {} : { details }) });
  if (!ok) failures.push(details === undefined ? message : `${message}: ${JSON.stringify(details)}`);
  return ok;
}

const userDataDir = mkdtempSync(path.join(tmpdir(), `voicebin-manage-${browserName}-`));
const watchdog = setTimeout(() => {
  observed.failures = [...failures, `no result after ${OVERALL_TIMEOUT_MS} ms`];
  console.log(JSON.stringify(observed, null, 2));
  console.error(`manage check FAILED: no result after ${OVERALL_TIMEOUT_MS} ms`);
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

/** The init script: sign the tab in and record CSP violations. A string, so both drivers take
 *  it with its data. */
function initScript(sessions) {
  const body = (s) => {
    // Only this site's pages: about:blank has no storage to write to.
    if (!location.protocol.startsWith("http")) return;
    // ?as=nobody: signed out; ?as=owner: the owner, on any page.
    const as = new URLSearchParams(location.search).get("as");
    const session =
      as === "nobody" ? null
      : as === "owner" ? s.owner
      : location.pathname.startsWith("/moderation") ? s.moderator
      : s.owner;
    if (session) sessionStorage.setItem("voicebin.session", JSON.stringify(session));
    else sessionStorage.removeItem("voicebin.session");
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI });
    });
  };
  return `(${body})(${JSON.stringify(sessions)});`;
}

let browser;
const started = Date.now();

/** Evaluates `fn({ id, arg })` in the page, for the card of clip `id` (each `fn` finds it:
 *  functions cannot be composed across the page boundary without eval, which the CSP forbids). */
function onCard(id, fn, arg) {
  return browser.evaluate(fn, { id, arg });
}

async function cardCount() {
  return browser.evaluate(() => document.querySelectorAll("#clip-list li.clip").length);
}

async function collectCsp(where) {
  const csp = await browser.evaluate(() => window.__csp || []);
  if (csp.length) observed.cspViolations.push({ where, csp });
}

/** The harness's quality checks of the page as it stands (axe, Tab, 360 px, screenshots at
 *  both widths in <artifacts>/manage-<browser>/). */
async function audited(label) {
  await audit(browser, check, `${label}-${browserName}`, path.join(config.artifacts, `manage-${browserName}`));
}

async function shot(name) {
  const file = path.join(config.artifacts, `${name}-${browserName}.png`);
  await browser.screenshot(file);
  return file;
}

/** Clicks `Play` in the card of `id` and waits for its player to advance. */
async function playInCard(id, what) {
  await onCard(id, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector(".play audio").muted = true;
    card.querySelector(".play button").click();
  });
  const played = await browser.waitForFunction(
    (id) => {
      const audio = document.querySelector(`li.clip[data-id="${id}"] .play audio`);
      return audio && audio.currentTime > 0.2;
    },
    id,
    STEP_TIMEOUT_MS,
  );
  const state = await onCard(id, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    const audio = card.querySelector(".play audio");
    return {
      src: audio.src.replace(/playback=[^&]+/, "playback=…"),
      currentTime: audio.currentTime,
      error: audio.error && audio.error.code,
      status: card.querySelector(".play [role=status]").textContent,
    };
  });
  check(played, `${what} plays in place`, state);
  check(/\/audio\?playback=/.test(state.src || ""), `${what} plays from a playback URL`, state.src);
  await onCard(id, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`); return card.querySelector(".play audio").pause(); });
}

try {
  browser = await launch(browserName, {
    userDataDir,
    viewport: { width: 1280, height: 900 },
    launchTimeout: 60_000,
    stepTimeout: STEP_TIMEOUT_MS,
    setupHint: SETUP_HINT,
  });
  await browser.addInitScript(initScript({ owner: config.owner, moderator: config.moderator }));
  browser.onConsole(({ type, text, location }) => {
    if (type !== "error") return;
    if ((location && location.url || "").endsWith("/favicon.ico")) return;
    // The stale URL the test plants on purpose (Chromium logs its 403).
    if ((location && location.url || "").includes("playback=1.o.")) return;
    // The blocked clip's page, which answers 404 on purpose (Chromium logs the status).
    if ((location && location.url || "") === `${base}/${clips.delta}` && /404/.test(text)) return;
    observed.consoleErrors.push({ text, location });
  });
  browser.onPageError((err) => observed.pageErrors.push(err));

  // --- My clips -------------------------------------------------------------------------
  // Two at a time: "Show more clips" fetches the next page with the API's cursor.
  let res = await browser.goto(`${base}/clips?limit=2`);
  check(res.status === 200, "/clips answers 200", res.status);
  const firstPage = await browser.waitForFunction(
    () => document.querySelectorAll("#clip-list li.clip").length === 2 && !document.getElementById("clips-more").hidden,
    null,
    STEP_TIMEOUT_MS,
  );
  check(firstPage, "a page of two clips, with more to show", await cardCount());
  await browser.evaluate(() => document.getElementById("clips-more").click());
  const secondPage = await browser.waitForFunction(
    () => document.querySelectorAll("#clip-list li.clip").length === 4 && !document.getElementById("clips-more").hidden,
    null,
    STEP_TIMEOUT_MS,
  );
  await browser.evaluate(() => document.getElementById("clips-more").click());
  const lastPage = await browser.waitForFunction(
    () => document.querySelectorAll("#clip-list li.clip").length === 5 && document.getElementById("clips-more").hidden,
    null,
    STEP_TIMEOUT_MS,
  );
  const paged = await browser.evaluate(() => ({
    ids: [...document.querySelectorAll("#clip-list li.clip")].map((li) => li.dataset.id),
    focused: document.activeElement && document.activeElement.closest("li.clip") && document.activeElement.closest("li.clip").dataset.id,
  }));
  check(secondPage && lastPage && new Set(paged.ids).size === 5, "“Show more clips” pages through all five, none twice, then hides", paged);
  check(paged.focused === paged.ids[4], "the first clip of a new page takes the focus", paged);

  res = await browser.goto(`${base}/clips`);
  let listed = await browser.waitForFunction(
    () => document.querySelectorAll("#clip-list li.clip").length === 5,
    null,
    STEP_TIMEOUT_MS,
  );
  check(listed, "My clips lists the five clips", await cardCount());
  const signedIn = await browser.evaluate(() => document.getElementById("account-name").textContent);
  check(signedIn.includes(config.owner.account), "the header names the signed-in account", signedIn);

  // Search narrows the list; an empty search brings every clip back.
  await browser.evaluate(() => {
    document.getElementById("clips-q").value = "beta";
    document.getElementById("clips-search").requestSubmit();
  });
  const narrowed = await browser.waitForFunction(
    (beta) => {
      const cards = document.querySelectorAll("#clip-list li.clip");
      return cards.length === 1 && cards[0].dataset.id === beta;
    },
    clips.beta,
    STEP_TIMEOUT_MS,
  );
  check(narrowed, "searching for “beta” lists beta only", await cardCount());
  await browser.evaluate(() => {
    document.getElementById("clips-q").value = "";
    document.getElementById("clips-search").requestSubmit();
  });
  listed = await browser.waitForFunction(
    () => document.querySelectorAll("#clip-list li.clip").length === 5,
    null,
    STEP_TIMEOUT_MS,
  );
  check(listed, "clearing the search lists all five again", await cardCount());

  // Edit alpha's title and limit in place.
  const opened = await onCard(clips.alpha, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    [...card.querySelectorAll("button")].find((b) => b.textContent === "Edit").click();
    const form = card.querySelector("form.edit");
    return { hidden: form.hidden, focused: document.activeElement === form.querySelector("[name=title]") };
  });
  check(opened.hidden === false && opened.focused, "Edit opens the form with the title focused", opened);
  await audited("clips-editing");
  await onCard(clips.alpha, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    const form = card.querySelector("form.edit");
    form.querySelector("[name=title]").value = "Alpha renamed";
    form.querySelector("[name=download_limit]").value = "7";
    form.requestSubmit();
  });
  const saved = await browser.waitForFunction(
    (id) => {
      const card = document.querySelector(`li.clip[data-id="${id}"]`);
      return (
        card &&
        card.querySelector("h3").textContent === "Alpha renamed" &&
        card.querySelector('[data-fact="downloads"]').textContent === "0 of 7" &&
        card.querySelector("form.edit").hidden
      );
    },
    clips.alpha,
    STEP_TIMEOUT_MS,
  );
  check(saved, "the edit is saved and shown (title, 0 of 7 downloads)", await onCard(clips.alpha, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`); return card.textContent.slice(0, 300); }));

  // Delete gamma: the confirmation takes the focus; confirming removes the card.
  const asked = await onCard(clips.gamma, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector(".delete > button").click();
    const confirm = card.querySelector(".confirm");
    return {
      shown: !confirm.hidden,
      question: confirm.querySelector(".confirm-question").textContent,
      focused: document.activeElement && document.activeElement.textContent,
    };
  });
  check(asked.shown && asked.focused === "Yes, delete it", "Delete asks first, with the confirming button focused", asked);
  await audited("clips-confirm-delete");
  // The audit moved the focus around; the question is still open.
  await onCard(clips.gamma, ({ id }) => {
    const card = document.querySelector(`li.clip[data-id="${id}"]`);
    [...card.querySelectorAll(".confirm button")].find((b) => b.textContent === "Yes, delete it").focus();
  });
  // Keep it: nothing is deleted and the focus returns to Delete.
  const kept = await onCard(clips.gamma, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    [...card.querySelectorAll(".confirm button")].find((b) => b.textContent === "Keep it").click();
    return { hidden: card.querySelector(".confirm").hidden, focused: document.activeElement.textContent };
  });
  check(kept.hidden && kept.focused === "Delete", "“Keep it” closes the question and focuses Delete", kept);
  await onCard(clips.gamma, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector(".delete > button").click();
    [...card.querySelectorAll(".confirm button")].find((b) => b.textContent === "Yes, delete it").click();
  });
  const deleted = await browser.waitForFunction(
    (id) => !document.querySelector(`li.clip[data-id="${id}"]`) && document.querySelectorAll("#clip-list li.clip").length === 4,
    clips.gamma,
    STEP_TIMEOUT_MS,
  );
  check(deleted, "confirming deletes gamma from the list", await cardCount());
  const afterDelete = await browser.evaluate(() => ({
    status: document.getElementById("clips-status").textContent,
    focused: document.activeElement && document.activeElement.tagName,
  }));
  check(afterDelete.focused === "A" || afterDelete.focused === "INPUT", "the focus stays in the list after a delete", afterDelete);

  await playInCard(clips.beta, "beta (My clips)");
  // A stale URL (expired, or from another browser: the server refuses it) is replaced by a
  // fresh one and playback carries on.
  await onCard(clips.beta, ({ id }) => {
    const audio = document.querySelector(`li.clip[data-id="${id}"] .play audio`);
    audio.src = audio.src.replace(/playback=[^&]+/, "playback=1.o.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    audio.play().catch(() => {});
  });
  const renewed = await browser.waitForFunction(
    (id) => {
      const audio = document.querySelector(`li.clip[data-id="${id}"] .play audio`);
      return !audio.src.includes("playback=1.o.") && audio.currentTime > 0.2;
    },
    clips.beta,
    STEP_TIMEOUT_MS,
  );
  check(renewed, "a refused playback URL is renewed and playback goes on");
  await onCard(clips.beta, ({ id }) => document.querySelector(`li.clip[data-id="${id}"] .play audio`).pause());
  await collectCsp("/clips");
  observed.screenshots = [await shot("my-clips")];

  // --- The view page's owner panel ------------------------------------------------------
  res = await browser.goto(`${base}/${clips.alpha}`);
  check(res.status === 200, "the view page answers 200", res.status);
  check(/connect-src 'self'/.test(res.csp || ""), "the view page's policy lets its script call the API", res.csp);
  const panel = await browser.waitForSelector('#owner-panel[data-ready="true"]', STEP_TIMEOUT_MS);
  const panelText = await browser.evaluate(() => document.getElementById("owner-panel").textContent);
  check(panel && panelText.includes("0 of 7") && panelText.includes("Clean"), "the owner panel shows scan state and downloads", panelText.slice(0, 300));
  await browser.evaluate(() => {
    document.getElementById("owner-edit").click();
    const form = document.querySelector("#owner-panel form.edit");
    form.querySelector("[name=title]").value = "Alpha from the view page";
    form.requestSubmit();
  });
  const retitled = await browser.waitForFunction(
    () =>
      document.getElementById("title").textContent === "Alpha from the view page" &&
      document.querySelector("#owner-panel form.edit").hidden,
    null,
    STEP_TIMEOUT_MS,
  );
  check(retitled, "the owner panel's edit retitles the clip", await browser.evaluate(() => document.getElementById("title").textContent));
  await browser.evaluate(() => document.getElementById("owner-edit").click());
  await audited("view-owner-editing");
  await collectCsp("view page");
  observed.screenshots.push(await shot("view-owner-panel"));

  // --- Moderation -------------------------------------------------------------------------
  res = await browser.goto(`${base}/moderation`);
  check(res.status === 200, "/moderation answers 200", res.status);
  const queued = await browser.waitForSelector(`li.clip[data-id="${clips.delta}"]`, STEP_TIMEOUT_MS);
  check(queued, "the report queue shows the reported clip");
  const reports = await onCard(clips.delta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`); return card.querySelector(".reports").textContent; });
  check(/Spam/.test(reports || ""), "the queue shows the report's reason", reports);
  await playInCard(clips.delta, "delta, reported (Moderation)");

  // Block without a reason: refused in the page; with a reason: blocked.
  const noReason = await onCard(clips.delta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector('button[data-decision="block"]').click();
    return {
      message: card.querySelector("form.decide [role=status]").textContent,
      focused: document.activeElement && document.activeElement.name,
    };
  });
  check(/reason/i.test(noReason.message) && noReason.focused === "reason", "a decision without a reason is refused and the reason focused", noReason);
  await onCard(clips.delta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector("form.decide textarea").value = "Spam links in the audio";
    card.querySelector('button[data-decision="block"]').click();
  });
  const blocked = await browser.waitForFunction(
    (id) => {
      const card = document.querySelector(`li.clip[data-id="${id}"]`);
      const fact = card && card.querySelector('[data-fact^="moderation-"]');
      return fact && fact.dataset.fact === "moderation-blocked" && fact.textContent.includes("Spam links in the audio");
    },
    clips.delta,
    STEP_TIMEOUT_MS,
  );
  check(blocked, "blocking shows the clip blocked with the reason", await onCard(clips.delta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`); return card.querySelector("dl.facts").textContent; }));
  // The blocked clip still plays for the moderator (a fresh page: a fresh playback URL).
  res = await browser.goto(`${base}/moderation`);
  await browser.evaluate(() => {
    document.getElementById("queue-state").value = "all";
    document.getElementById("queue-filter").requestSubmit();
  });
  await browser.waitForSelector(`li.clip[data-id="${clips.delta}"] [data-fact="moderation-blocked"]`, STEP_TIMEOUT_MS);
  await playInCard(clips.delta, "delta, blocked (Moderation)");
  await onCard(clips.delta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`); return [...card.querySelectorAll("button")].find((b) => b.textContent === "Show history").click(); });
  const history = await browser.waitForFunction(
    (id) => {
      const box = document.querySelector(`li.clip[data-id="${id}"] .history`);
      return box && !box.hidden && box.querySelectorAll("ol.events li").length >= 3;
    },
    clips.delta,
    STEP_TIMEOUT_MS,
  );
  const events = await onCard(clips.delta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`); return [...card.querySelectorAll(".history li strong")].map((s) => s.textContent); });
  check(history && events.length >= 3, "the clip's history is shown", events);
  await audited("moderation-history");

  // Remove epsilon: final, so the page asks once more, with the confirming button focused.
  const removing = await onCard(clips.epsilon, ({ id }) => {
    const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector("form.decide textarea").value = "Harassment of a named person";
    card.querySelector('button[data-decision="remove"]').click();
    const confirm = card.querySelector("form.decide .confirm");
    return { shown: !confirm.hidden, focused: document.activeElement && document.activeElement.textContent };
  });
  check(removing.shown && removing.focused === "Yes, remove it for good", "Remove asks once more, with the confirming button focused", removing);
  await onCard(clips.epsilon, ({ id }) => {
    const card = document.querySelector(`li.clip[data-id="${id}"]`);
    [...card.querySelectorAll("form.decide .confirm button")].find((b) => b.textContent === "Yes, remove it for good").click();
  });
  const removed = await browser.waitForSelector(`li.clip[data-id="${clips.epsilon}"] [data-fact="moderation-removed"]`, STEP_TIMEOUT_MS);
  check(removed, "confirming removes epsilon", await onCard(clips.epsilon, ({ id }) => document.querySelector(`li.clip[data-id="${id}"] dl.facts`).textContent));
  await collectCsp("/moderation");
  observed.screenshots.push(await shot("moderation"));

  // --- Any clip, by its address: beta, never reported, blocked then restored ------------------
  await browser.evaluate((url) => {
    document.getElementById("lookup-clip").value = url;
    document.getElementById("lookup-form").requestSubmit();
  }, `${base}/${clips.beta}`);
  const lookedUp = await browser.waitForSelector(`#lookup-list li.clip[data-id="${clips.beta}"]`, STEP_TIMEOUT_MS);
  check(lookedUp, "Moderation opens a clip nobody reported, by its address");
  await onCard(clips.beta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector("form.decide textarea").value = "Checking a clip nobody reported";
    card.querySelector('button[data-decision="block"]').click();
  });
  const lookedUpBlocked = await browser.waitForSelector(`li.clip[data-id="${clips.beta}"] [data-fact="moderation-blocked"]`, STEP_TIMEOUT_MS);
  check(lookedUpBlocked, "and blocks it");
  // Blocked without reports it is in no queue: /moderation?clip= opens it to restore it.
  res = await browser.goto(`${base}/moderation?clip=${clips.beta}`);
  await browser.waitForSelector(`#lookup-list li.clip[data-id="${clips.beta}"] [data-fact="moderation-blocked"]`, STEP_TIMEOUT_MS);
  await audited("moderation-lookup");
  await onCard(clips.beta, ({ id }) => { const card = document.querySelector(`li.clip[data-id="${id}"]`);
    card.querySelector("form.decide textarea").value = "Fine after all";
    card.querySelector('button[data-decision="restore"]').click();
  });
  const restored = await browser.waitForSelector(`li.clip[data-id="${clips.beta}"] [data-fact="moderation-visible"]`, STEP_TIMEOUT_MS);
  check(restored, "/moderation?clip= opens the blocked clip, and Restore makes it public again");
  await collectCsp("/moderation?clip=");

  // --- The owner on the page of their blocked clip -----------------------------------------
  res = await browser.goto(`${base}/${clips.delta}`);
  check(res.status === 404, "a blocked clip's page is 'not found' as the server sends it", res.status);
  const explained = await browser.waitForSelector('#not-public[data-ready="true"]', STEP_TIMEOUT_MS);
  const notPublic = await browser.evaluate(() => ({
    title: document.querySelector("h1").textContent,
    text: document.getElementById("error-text").textContent,
    facts: document.querySelector("#not-public dl.facts")?.textContent || "",
  }));
  check(explained && /not public: Blocked by a moderator: /.test(notPublic.text) && /Blocked by a moderator/.test(notPublic.facts),
    "its owner is told it is not public because a moderator blocked it, and why", notPublic);
  await browser.evaluate(() => {
    const audio = document.querySelector("#not-public .play audio");
    audio.muted = true;
    document.querySelector("#not-public .play button").click();
  });
  const playedBlocked = await browser.waitForFunction(
    () => (document.querySelector("#not-public .play audio")?.currentTime || 0) > 0.2,
    null,
    STEP_TIMEOUT_MS,
  );
  check(playedBlocked, "its owner plays it from that page");
  await browser.evaluate(() => document.querySelector("#not-public .play audio").pause());
  await audited("view-not-public");
  await collectCsp("a blocked clip's page");
  observed.screenshots.push(await shot("view-not-public"));

  // --- Signed out, and signed in without the moderator's scope ----------------------------
  res = await browser.goto(`${base}/clips?as=nobody`);
  const prompt = await browser.waitForSelector("#clips-signed-out:not([hidden])", STEP_TIMEOUT_MS);
  check(prompt, "signed out, My clips asks to sign in");
  check(await browser.evaluate(() => document.getElementById("clips").hidden), "signed out, no list is shown");
  await browser.evaluate(() => document.getElementById("clips-sign-in").click());
  const toSignIn = await browser.waitForFunction(() => location.pathname === "/signin", null, STEP_TIMEOUT_MS);
  const returnTo = await browser.evaluate(() => sessionStorage.getItem("voicebin.return-to"));
  check(toSignIn && returnTo === "/clips?as=nobody", "the prompt goes to /signin, to come back to My clips", { returnTo });
  res = await browser.goto(`${base}/moderation?as=owner`);
  const refused = await browser.waitForFunction(
    () => /voice:moderate/.test(document.getElementById("moderation-status").textContent),
    null,
    STEP_TIMEOUT_MS,
  );
  const refusal = await browser.evaluate(() => ({
    text: document.getElementById("moderation-status").textContent,
    queueHidden: document.getElementById("queue").hidden,
  }));
  check(refused && refusal.queueHidden, "without voice:moderate, Moderation says why and shows no queue", refusal);
  await audited("moderation-no-scope");
  observed.screenshots.push(await shot("moderation-no-scope"));
  await collectCsp("signed out and without scope");

  check(observed.consoleErrors.length === 0, "no console errors", observed.consoleErrors);
  check(observed.pageErrors.length === 0, "no uncaught page errors", observed.pageErrors);
  check(observed.cspViolations.length === 0, "no Content-Security-Policy violations", observed.cspViolations);
} catch (e) {
  failures.push(`exception: ${e && e.stack ? e.stack : e}`);
} finally {
  clearTimeout(watchdog);
  observed.seconds = (Date.now() - started) / 1000;
  observed.failures = failures;
  console.log(JSON.stringify(observed, null, 2));
  if (browser) await browser.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
if (failures.length) {
  console.error(`manage check FAILED in ${browserName}:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
