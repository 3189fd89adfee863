// A clip's transcript on its view page, in a real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/transcript.mjs <config.json> [chromium|firefox]
//
// config.json (written by tests/api/transcripts.rs): { base, clip, segments: [{start_ms,
// end_ms, text}], artifacts }, for a 12 s public clip whose transcript holds `segments` (one
// of them markup-looking text with `-->` in it).
//
// Steps, signed out: the page lists every segment under the player as text (no element made
// of the server's text); the captions <track> loads and the browser's own WebVTT parser finds
// one cue per segment with the same text; the page is audited (axe, Tab, 360 px); clicking the
// second segment plays from its start and marks it as the one playing (aria-current).
// Runs under tests/browser/harness.mjs (console errors, CSP violations and other sites fail
// it). Prints what it observed as JSON; exits non-zero on failure.

import { readFileSync } from "node:fs";
import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { audit, run } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/transcript.mjs <config.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { base, clip, segments } = config;
const STEP_TIMEOUT_MS = 15_000;

await run("transcript", browserName, base, {}, async ({ browser, check, observed }) => {
  await browser.goto(`${base}/${clip}`);
  const listed = await browser.evaluate(() =>
    [...document.querySelectorAll("#transcript li button")].map((b) => ({
      start: Number(b.dataset.startMs),
      text: b.querySelector(".said").textContent,
      elements: [...b.querySelectorAll(".said *")].map((e) => e.tagName.toLowerCase()),
    })),
  );
  observed.listed = listed;
  check(listed.length === segments.length, "every segment is listed under the player", listed);
  check(
    listed.every((l, i) => l.start === segments[i].start_ms && l.text === segments[i].text && l.elements.length === 0),
    "each shows its words as text, at its start",
    listed,
  );

  // The browser's own WebVTT parser reads the captions track.
  await browser.evaluate(() => {
    const track = document.querySelector("#player track");
    track.track.mode = "hidden";
  });
  const parsed = await browser.waitForFunction(
    (count) => {
      const track = document.querySelector("#player track");
      return track && track.readyState === 2 && track.track.cues && track.track.cues.length === count;
    },
    segments.length,
    STEP_TIMEOUT_MS,
  );
  const cues = await browser.evaluate(() => {
    const track = document.querySelector("#player track");
    return {
      readyState: track.readyState,
      kind: track.kind,
      // The cue's text as the page would render it (entities decoded, no markup).
      cues: [...(track.track.cues || [])].map((c) => ({ start: c.startTime, end: c.endTime, raw: c.text, text: c.getCueAsHTML().textContent })),
    };
  });
  observed.cues = cues;
  check(parsed, "the captions track loads and parses, one cue per segment", cues);
  check(
    cues.cues.length === segments.length &&
      cues.cues.every(
        (c, i) => Math.abs(c.start - segments[i].start_ms / 1000) < 0.002 && c.text === segments[i].text,
      ),
    "each cue has its segment's start and text",
    cues,
  );

  await audit(browser, check, `transcript-${browserName}`, path.join(config.artifacts, `transcript-${browserName}`));

  // Clicking a segment plays from where it was said.
  const second = segments[1];
  await browser.evaluate((start) => {
    document.getElementById("player").muted = true;
    document.querySelector(`#transcript button[data-start-ms="${start}"]`).click();
  }, second.start_ms);
  const from = second.start_ms / 1000;
  const playing = await browser.waitForFunction(
    (from) => {
      const audio = document.getElementById("player");
      return !audio.paused && audio.currentTime >= from && audio.currentTime < from + 3.5;
    },
    from,
    STEP_TIMEOUT_MS,
  );
  const marked = await browser.waitForFunction(
    (start) =>
      document.querySelector(`#transcript button[data-start-ms="${start}"]`).getAttribute("aria-current") === "true",
    second.start_ms,
    STEP_TIMEOUT_MS,
  );
  observed.after = await browser.evaluate(() => ({
    currentTime: document.getElementById("player").currentTime,
    current: [...document.querySelectorAll('#transcript button[aria-current="true"]')].map((b) => b.dataset.startMs),
  }));
  check(playing, `clicking the second segment plays from ${from} s`, observed.after);
  check(marked, "the segment being played is marked aria-current", observed.after);
});
