// The account's quota in the web app, in a real browser (tests/browser/drivers.mjs):
//
//   node tests/browser/quota.mjs <config.json> [chromium|firefox]
//
// config.json (written by tests/api/quotas.rs): { base, owner, file, artifacts }, where owner
// is a session as session.js keeps it, whose account already has as many clips as its quota
// allows (one), and file an audio file to choose.
//
// Steps: My clips says what the clips take and that the quota is full; the upload page takes
// the file, and when it is sent refuses it with the quota's words (nothing is uploaded). Runs
// under tests/browser/harness.mjs (console errors, CSP violations and other sites fail it).
// Prints what it observed as JSON; exits non-zero on failure.

import { readFileSync } from "node:fs";
import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { audit, run, signIn } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/quota.mjs <config.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { base } = config;
const STEP_TIMEOUT_MS = 15_000;

await run("quota", browserName, base, {}, async ({ browser, check, observed }) => {
  await signIn(browser, config.owner);
  await browser.goto(`${base}/clips`);
  const shown = await browser.waitForFunction(
    () => { const line = document.getElementById("clips-usage"); return line && !line.hidden && line.textContent !== ""; },
    null,
    STEP_TIMEOUT_MS,
  );
  observed.usage = await browser.evaluate(() => document.getElementById("clips-usage").textContent);
  check(shown && /^Your storage: 1 of 1 clip, .+ — full: delete clips to upload more\.$/.test(observed.usage),
    "My clips shows the usage, the limit and that it is full", observed.usage);

  await browser.goto(`${base}/`);
  await browser.setInputFiles("#file", config.file);
  const ready = await browser.waitForFunction(() => !document.getElementById("send").disabled, null, STEP_TIMEOUT_MS);
  check(ready, "a chosen audio file is ready to upload");
  await browser.evaluate(() => document.getElementById("send").click());
  const refused = await browser.waitForFunction(
    () => document.getElementById("refusal").textContent.startsWith("Quota exceeded"),
    null,
    STEP_TIMEOUT_MS,
  );
  observed.refusal = await browser.evaluate(() => document.getElementById("refusal").textContent);
  check(refused && observed.refusal.includes("1 of 1 clips"), "the upload page refuses it with the quota's words", observed.refusal);
  await audit(browser, check, `quota-refused-${browserName}`, path.join(config.artifacts, `quota-${browserName}`));
});
