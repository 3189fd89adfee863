// What the upload page, the owner panel and Moderation say and do about a clip's outcome, in
// a real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/outcomes.mjs <config.json> [chromium|firefox]
//
// config.json (written by tests/api/webapp_outcomes.rs): { base, sessions: { alice, mod },
// files: { dropped (an MP3), rejected (an MP3 cut short), infected (a WAV carrying the EICAR
// test string) }, restorable (a clip of alice's that a moderator blocked; alice also has one a
// moderator removed, "Taken down"), artifacts }. The app scans with clamd.
//
//   1. A file dropped on the upload page's drop zone (a drop event carrying it, as the browser
//      sends one) uploads and becomes clean.
//   2. A file the audio check refuses: the page says so, with the scan's reason.
//   3. A dropped file the virus scanner finds malware in: the page says so, with the signature.
//   4. The clean clip's view page: the owner panel deletes it after the confirmation and goes
//      to My clips, which lists the others with their outcomes, links no title to a page that
//      is not there, and offers nothing for a clip a moderator removed.
//   5. Moderation restores the blocked clip with a reason.
//
// `?as=<name>` signs the tab in as that session first. Runs under tests/browser/harness.mjs
// (console errors, page errors, CSP violations and other sites fail it). Prints what it
// observed as JSON; exits non-zero on failure.

import { readFileSync } from "node:fs";
import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { narrate, run } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/outcomes.mjs <config.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { base } = config;
const STEP_TIMEOUT_MS = 15_000;
const SCAN_TIMEOUT_MS = 40_000;

await run("clip outcomes", browserName, new URL(base).origin, { timeoutMs: 110_000 }, async ({ browser, check, observed }) => {
  const { log, must } = narrate(check);
  const waitFor = (fn, arg, timeout = STEP_TIMEOUT_MS) => browser.waitForFunction(fn, arg, timeout);
  const text = (selector) => browser.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  const shot = (name) => browser.screenshot(path.join(config.artifacts, `outcomes-${name}-${browserName}.png`));

  await browser.addInitScript(
    `(${(sessions) => {
      if (!location.protocol.startsWith("http")) return;
      const as = new URLSearchParams(location.search).get("as");
      if (as) sessionStorage.setItem("voicebin.session", JSON.stringify(sessions[as]));
    }})(${JSON.stringify(config.sessions)});`,
  );

  /** Drops the file at `file` on the drop zone, as the browser does after a drag from the
   *  desktop: dragenter/dragover (which the zone must accept) and drop, carrying the File. */
  const drop = (file, type) =>
    browser.evaluate(
      ({ b64, name, type }) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, { type }));
        const zone = document.getElementById("drop");
        const over = new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true });
        zone.dispatchEvent(over);
        const highlighted = zone.classList.contains("over");
        const dropped = new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
        zone.dispatchEvent(dropped);
        return { accepted: over.defaultPrevented, highlighted, handled: dropped.defaultPrevented, after: zone.className };
      },
      { b64: readFileSync(file).toString("base64"), name: path.basename(file), type },
    );

  /** Sends the clip in the page and waits for the scan to end: { state, text, share }. */
  const uploadAndScan = async (title) => {
    must(await waitFor(() => !document.getElementById("send").disabled), `${title}: ready to upload`, await text("#refusal"));
    await browser.evaluate((t) => {
      document.getElementById("title").value = t;
      document.getElementById("send").click();
    }, title);
    must(await waitFor(() => !document.getElementById("done").hidden, null), `${title}: uploaded`, await text("#refusal"));
    await waitFor(() => {
      const scan = document.getElementById("scan");
      return scan.dataset.scanState && scan.dataset.scanState !== "pending";
    }, null, SCAN_TIMEOUT_MS);
    return browser.evaluate(() => ({
      state: document.getElementById("scan").dataset.scanState,
      text: document.getElementById("scan").textContent,
      share: document.getElementById("share-link").href,
      linksShown: !document.getElementById("share-link").closest("p").hidden && !document.getElementById("view-link").hidden,
    }));
  };

  // --- 1. drag and drop -----------------------------------------------------------------
  let res = await browser.goto(`${base}/?as=alice`);
  must(res.status === 200, "/ answers 200", res.status);
  const dropped = await drop(config.files.dropped, "audio/mpeg");
  log(dropped.accepted && dropped.highlighted, "the drop zone accepts a dragged file and highlights", dropped);
  log(dropped.handled && dropped.after === "drop", "the drop is handled by the page (not opened by the browser) and the highlight goes", dropped);
  // The page sniffs the file before taking it (asynchronously).
  await waitFor(() => document.getElementById("chosen-name").textContent !== "");
  const chosen = await text("#chosen-name");
  log(/^hello\.mp3 · /.test(chosen || ""), "the dropped file is the clip to send", chosen);
  const clean = await uploadAndScan("Dropped");
  observed.clean = clean;
  log(clean.state === "clean" && /^Ready: /.test(clean.text), "the dropped file becomes clean, and the page says it is ready", clean);
  log(clean.linksShown, "a clean clip's share link and page link are offered", clean);

  // --- 2. refused by the audio check --------------------------------------------------------
  await browser.evaluate(() => document.getElementById("another").click());
  await browser.setInputFiles("#file", config.files.rejected);
  const rejected = await uploadAndScan("Cut short");
  observed.rejected = rejected;
  log(
    rejected.state === "rejected" &&
      /^Refused: the clip did not pass the audio check, so it is not served to anyone \(.+\)\.$/.test(rejected.text),
    "a clip the audio check refuses: the page says so, with the reason in brackets",
    rejected.text,
  );
  log(!rejected.linksShown, "a refused clip's links (which could only say “not found”) are not offered", rejected);
  await browser.evaluate(() => document.getElementById("scan").scrollIntoView());
  await shot("rejected");

  // --- 3. malware, dropped ----------------------------------------------------------------
  await browser.evaluate(() => document.getElementById("another").click());
  await drop(config.files.infected, "audio/wav");
  const infected = await uploadAndScan("Carries EICAR");
  observed.infected = infected;
  log(
    infected.state === "infected" &&
      /^Refused: the virus scanner found malware in this file, so it is not served to anyone \(malware: .*Eicar.*\)\.$/i.test(infected.text),
    "a clip carrying malware: the page says so, with the signature in brackets",
    infected.text,
  );
  log(!infected.linksShown, "an infected clip's links are not offered", infected);
  await shot("infected");

  // --- 4. the owner panel deletes the clean clip -------------------------------------------
  res = await browser.goto(clean.share);
  log(res.status === 200, "the clean clip's view page answers 200", res.status);
  must(await waitFor(() => document.getElementById("owner-panel").dataset.ready === "true"), "the owner panel shows");
  const asked = await browser.evaluate(() => {
    document.querySelector("#owner-panel .delete > button").click();
    return {
      question: document.querySelector("#owner-panel .confirm-question").textContent,
      focused: document.activeElement && document.activeElement.textContent,
    };
  });
  log(asked.question.includes("Dropped") && asked.focused === "Yes, delete it", "Delete asks first, with the confirming button focused", asked);
  await browser.evaluate(() =>
    [...document.querySelectorAll("#owner-panel .confirm button")].find((b) => b.textContent === "Yes, delete it").click(),
  );
  const said = await waitFor(() => /^Deleted\. /.test(document.querySelector("#owner-panel > [role=status]").textContent));
  log(said, "the panel says the clip is deleted", await text("#owner-panel > [role=status]"));
  // The page moves on to My clips by itself.
  let onClips = false;
  for (let i = 0; i < 60 && !onClips; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    onClips = await browser.evaluate(() => location.pathname === "/clips").catch(() => false);
  }
  must(onClips, "then goes to My clips");
  must(await waitFor(() => document.querySelectorAll("#clip-list li.clip").length === 4), "My clips lists the four clips left", await text("#clips-status"));
  const cards = await browser.evaluate(() =>
    [...document.querySelectorAll("#clip-list li.clip")].map((li) => ({
      title: li.querySelector("h3").textContent,
      scan: li.querySelector('[data-fact^="scan-"]').textContent,
      linked: Boolean(li.querySelector("h3 a")),
      buttons: [...li.querySelectorAll("button")].map((b) => b.textContent),
      hint: [...li.querySelectorAll("article > p.hint")].map((p) => p.textContent).join(" "),
    })),
  );
  observed.cards = cards;
  const listed = Object.fromEntries(cards.map((c) => [c.title, c.scan]));
  observed.listed = listed;
  log(!("Dropped" in listed), "the deleted clip is not listed", listed);
  log(/^Rejected: not served \(.+\)$/.test(listed["Cut short"] || ""), "My clips says the cut-short clip was rejected, and why", listed);
  log(/^Infected: not served \(malware: /.test(listed["Carries EICAR"] || ""), "My clips says the EICAR clip is infected, and what was found", listed);
  // None of these has a page this browser can open (refused, blocked, removed): no title links
  // to one.
  log(cards.every((c) => !c.linked), "no title links to a page that would say “not found”", cards);
  const takenDown = cards.find((c) => c.title === "Taken down") || {};
  log(
    takenDown.buttons && takenDown.buttons.length === 0 && /removal is final/.test(takenDown.hint),
    "a removed clip offers no Play, Edit or Delete (the API refuses them), and says why",
    takenDown,
  );
  await shot("clips");

  // --- 5. Moderation restores the blocked clip ---------------------------------------------
  res = await browser.goto(`${base}/moderation?as=mod`);
  must(await waitFor(() => !document.getElementById("queue").hidden), "Moderation shows the queue");
  await browser.evaluate(() => {
    document.getElementById("queue-state").value = "all";
    document.getElementById("queue-filter").requestSubmit();
  });
  const card = `li.clip[data-id="${config.restorable}"]`;
  must(await waitFor((c) => document.querySelector(`${c} [data-fact="moderation-blocked"]`), card), "the blocked clip is listed, blocked");
  await browser.evaluate((c) => {
    const li = document.querySelector(c);
    li.querySelector("form.decide textarea").value = "Checked again: fine";
    li.querySelector('button[data-decision="restore"]').click();
  }, card);
  const restored = await waitFor((c) => {
    const fact = document.querySelector(`${c} [data-fact^="moderation-"]`);
    return fact && fact.dataset.fact === "moderation-visible";
  }, card);
  const after = await browser.evaluate((c) => ({
    fact: document.querySelector(`${c} [data-fact^="moderation-"]`).textContent,
    message: document.querySelector(`${c} form.decide [role=status]`).textContent,
    focused: document.activeElement && document.activeElement.dataset.decision,
  }), card);
  log(restored && /^Restored: /.test(after.message) && after.focused === "restore", "Restore makes the clip visible again, says so, and keeps the focus", after);
  await shot("restored");
});
