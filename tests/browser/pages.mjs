// The quality bar of every page, in a real browser (tests/api/webapp_pages.rs runs it):
//
//   node tests/browser/pages.mjs <visits.json> [chromium|firefox]
//
// visits.json: { "origin": "http://127.0.0.1:PORT", "artifacts": "<dir>",
//                "visits": [{ "label", "path", "session": <as session.js keeps it> | null,
//                             "ready": <CSS selector that shows the page has rendered> | null }] }
// For each visit: sign the tab in (or out), open the page, wait for it to render, then audit it
// (harness.mjs: axe-core, Tab reachability, 360 px without sideways scrolling, screenshots at
// desktop and phone width). No console error, CSP violation or request to another site on any.

import { readFileSync } from "node:fs";

import { BROWSERS } from "./drivers.mjs";
import { audit, run } from "./harness.mjs";

const [configPath, browserName = "chromium"] = process.argv.slice(2);
if (!configPath || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/pages.mjs <visits.json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));

await run("pages", browserName, config.origin, { timeoutMs: 110_000 }, async ({ browser, check, observed }) => {
  observed.visits = [];
  for (const visit of config.visits) {
    const url = config.origin + visit.path;
    // sessionStorage belongs to the origin: set it from one of its pages, then load the page.
    await browser.goto(url);
    await browser.evaluate((session) => {
      if (session) sessionStorage.setItem("voicebin.session", JSON.stringify(session));
      else sessionStorage.removeItem("voicebin.session");
    }, visit.session);
    const { status, csp } = await browser.goto(url);
    check(status === 200, `${visit.label}: ${visit.path} answers 200`, { status });
    check(Boolean(csp) && !/unsafe-inline|unsafe-eval/.test(csp), `${visit.label}: strict CSP`, { csp });
    await browser.settle(5_000);
    if (visit.ready) {
      const ready = await browser.waitForSelector(visit.ready, 15_000);
      check(ready, `${visit.label}: rendered (${visit.ready})`);
    }
    const found = await audit(browser, check, `${visit.label}-${browserName}`, config.artifacts);
    observed.visits.push({ label: visit.label, minorViolations: found.desktop.map((v) => `${v.impact} ${v.id}`) });
  }
});
