// Speech search in My clips, and the view page opening at the moment a word was said, in a
// real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/search.mjs <config.json> [chromium|firefox]
//
// config.json (written by tests/api/webapp_search.rs): { base, owner, clips: { titled, spoken },
// artifacts }, where owner is a session as session.js keeps it. `titled` has "Offsite" in its
// title; `spoken` (12 s long) has it only in its transcript, said at 6 s, in a segment holding
// markup-looking text (`<b>budget</b>`).
//
// Steps: /clips?q=offsite lists titled (a title hit) before spoken (a transcript hit); each
// card shows its snippet with the hit in <mark>, the server's text as text (no <b> element);
// spoken's card links to /{id}#t=6, which is audited (axe, Tab, 360 px) and followed with the
// keyboard (after a search of only punctuation is refused in words); the view page plays from
// 6 s; changing the address to #t=0:02 seeks there; a fresh
// /{id}#t=0:09 plays from 9 s. Runs under tests/browser/harness.mjs (console errors, CSP
// violations and other sites fail it). Prints what it observed as JSON; exits non-zero on
// failure.

import { readFileSync } from "node:fs";
import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { audit, run, signIn } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/search.mjs <config.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { base, clips } = config;
const STEP_TIMEOUT_MS = 15_000;

/** Plays the view page's player (muted) with a deadline; what it says afterwards. */
async function play(browser) {
  return browser.evaluate(async (timeout) => {
    const audio = document.getElementById("player");
    audio.muted = true;
    try {
      await Promise.race([
        audio.play(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`play() pending after ${timeout} ms`)), timeout)),
      ]);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, STEP_TIMEOUT_MS);
}

async function playerTime(browser) {
  return browser.evaluate(() => {
    const audio = document.getElementById("player");
    return { currentTime: audio.currentTime, duration: audio.duration, paused: audio.paused, hash: location.hash };
  });
}

/** Waits until the player's time is within [from, to). */
async function playsWithin(browser, from, to) {
  return browser.waitForFunction(
    ([from, to]) => {
      const t = document.getElementById("player").currentTime;
      return t >= from && t < to;
    },
    [from, to],
    STEP_TIMEOUT_MS,
  );
}

// Chromium logs the expected 400 of the punctuation-only search as a console error.
const options = { allowConsoleErrors: [/status of 400 \(Bad Request\)/] };

await run("search", browserName, base, options, async ({ browser, check, observed }) => {
  await signIn(browser, config.owner);
  await browser.goto(`${base}/clips?q=offsite`);
  const listed = await browser.waitForFunction(
    () => document.querySelectorAll("#clip-list li.clip").length === 2,
    null,
    STEP_TIMEOUT_MS,
  );
  const cards = await browser.evaluate(() =>
    [...document.querySelectorAll("#clip-list li.clip")].map((li) => {
      const match = li.querySelector(".match");
      return {
        id: li.dataset.id,
        field: match && match.dataset.field,
        marks: match ? [...match.querySelectorAll("mark")].map((m) => m.textContent) : [],
        text: match && match.textContent,
        elements: match ? [...match.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()) : [],
        link: match && match.querySelector("a") && match.querySelector("a").getAttribute("href"),
      };
    }),
  );
  observed.cards = cards;
  check(listed, "searching “offsite” lists the two clips that hold it", cards);
  check(
    cards.map((c) => c.id).join() === [clips.titled, clips.spoken].join(),
    "the title hit comes before the transcript hit",
    cards,
  );
  const [titled, spoken] = cards;
  check(titled && titled.field === "title" && titled.marks.join() === "Offsite", "the title hit is marked", titled);
  check(
    spoken && spoken.field === "transcript" && spoken.marks.join() === "offsite",
    "the spoken hit shows what was said with the word marked",
    spoken,
  );
  check(
    spoken && spoken.text.includes("<b>budget</b>") && !spoken.elements.includes("b"),
    "the server's text is shown as text, never parsed as HTML",
    spoken,
  );
  check(
    spoken && spoken.link === `${base}/${clips.spoken}#t=6`,
    "the spoken hit links to the view page at 6 s",
    spoken,
  );
  await audit(browser, check, `search-results-${browserName}`, path.join(config.artifacts, `search-${browserName}`));

  // A search with nothing to look for says so, in words, and empties the list.
  await browser.evaluate(() => {
    document.getElementById("clips-q").value = "%%";
    document.getElementById("clips-search").requestSubmit();
  });
  const refused = await browser.waitForFunction(
    () =>
      document.getElementById("clips-status").textContent.startsWith("Nothing to search for in “%%”") &&
      document.querySelectorAll("#clip-list li.clip").length === 0,
    null,
    STEP_TIMEOUT_MS,
  );
  check(refused, "a search of punctuation only says there is nothing to search for", await browser.evaluate(() => document.getElementById("clips-status").textContent));
  await browser.evaluate(() => {
    document.getElementById("clips-q").value = "offsite";
    document.getElementById("clips-search").requestSubmit();
  });
  check(
    await browser.waitForFunction(() => document.querySelectorAll("#clip-list li.clip .match").length === 2, null, STEP_TIMEOUT_MS),
    "searching again lists both hits",
  );

  // Follow the link with the keyboard.
  await browser.evaluate((id) => {
    document.querySelector(`li.clip[data-id="${id}"] .match a`).focus();
  }, clips.spoken);
  await browser.press("Enter");
  const opened = await browser.waitForFunction(
    (id) => location.pathname === `/${id}` && location.hash === "#t=6" && document.getElementById("player"),
    clips.spoken,
    STEP_TIMEOUT_MS,
  );
  check(opened, "Enter on the link opens the view page at #t=6", await browser.evaluate(() => location.href));
  const played = await play(browser);
  check(played.ok, "the player plays", played);
  const fromSix = await playsWithin(browser, 6, 12);
  observed.fromSix = await playerTime(browser);
  check(fromSix, "playback starts at 6 s, where the word was said", observed.fromSix);

  // A new fragment seeks the playing audio; minutes:seconds are understood.
  await browser.evaluate(() => {
    location.hash = "#t=0:02";
  });
  const toTwo = await playsWithin(browser, 2, 5.5);
  observed.toTwo = await playerTime(browser);
  check(toTwo, "changing the address to #t=0:02 seeks to 2 s", observed.toTwo);

  // A fresh visit at #t=0:09.
  await browser.goto(`${base}/${clips.spoken}#t=0:09`);
  const again = await play(browser);
  check(again.ok, "the player plays on a fresh visit", again);
  const fromNine = await playsWithin(browser, 9, 12.5);
  observed.fromNine = await playerTime(browser);
  check(fromNine, "a fresh visit at #t=0:09 plays from 9 s", observed.fromNine);
});
