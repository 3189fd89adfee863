// The upload page (`/`) in a real browser: Debian's chromium (playwright-core) or firefox-esr
// (puppeteer-core over WebDriver BiDi), see drivers.mjs.
//
//   node tests/browser/upload.mjs <config-json> [chromium|firefox]
//
// config: { base, token, account, scopes, speech (a WAV), good (an audio file), bad (a file
// that is not audio), refusal (the API's words for it), large (a big WAV), artifacts (a
// directory) }.
//
// (a) records three seconds from a fake microphone fed the speech file, listens back, uploads
//     it, watches the scan become clean, then opens the share link and checks the view page
//     plays it;
// (b) uploads `good` through the file chooser and watches its scan become clean;
// (c) chooses `bad`: the page refuses it in the API's words and sends no request;
// (d) records with a token the server refuses: the page keeps the recording (IndexedDB), sends
//     the person to sign in, and after signing in the recording and its title are back and
//     upload;
// (e) cancels the upload of a large file at its first progress event (the Rust test checks the
//     server kept nothing: the page deletes the resumable upload).
//
// The fake microphone (harness.mjs `microphoneOptions`, `fakeMicrophone`):
//   - chromium: its own fake capture device, fed the WAV (--use-fake-device-for-media-stream
//     --use-file-for-fake-audio-capture), with the permission prompt auto-accepted
//     (--use-fake-ui-for-media-stream);
//   - firefox: firefox-esr has no switch to feed a file to its fake device (media.navigator.
//     streams.fake is a tone), so an init script replaces getUserMedia for audio with a Web
//     Audio graph that loops the decoded WAV into a MediaStreamAudioDestinationNode; the page's
//     MediaRecorder and AnalyserNode see a real MediaStream either way.
//
// Signs in the way the page reads a session: an init script puts the token into
// sessionStorage["voicebin.session"] (harness.mjs `signIn`). Each state of the page it reaches
// (a clip ready, uploaded and scanned, refused) is audited by harness.mjs `audit` (axe, Tab,
// 360 px, screenshots in <artifacts>/upload-<browser>/). Prints what it observed as JSON; exits
// non-zero on failure (a console error, page error, CSP violation or request to another site
// is one too).

import path from "node:path";

import { BROWSERS } from "./drivers.mjs";
import { audit, fakeMicrophone, microphoneOptions, narrate, run, signIn } from "./harness.mjs";

const [configJson, browserName = "chromium"] = process.argv.slice(2);
if (!configJson || !BROWSERS.includes(browserName)) {
  console.error(`usage: node tests/browser/upload.mjs <config-json> [${BROWSERS.join("|")}]`);
  process.exit(2);
}
const config = JSON.parse(configJson);

const STEP_TIMEOUT_MS = 15_000;
const SCAN_TIMEOUT_MS = 30_000;
const shots = path.join(config.artifacts, `upload-${browserName}`);

const options = {
  timeoutMs: 110_000,
  // (d) sends a token the server refuses on purpose; Chromium logs that 401 as a console error.
  // (e)'s DELETE can meet the cancelled PATCH still holding its upload for a moment: 423, which
  // tus-js-client retries.
  allowConsoleErrors: [/status of 401 \(Unauthorized\)/, /status of 423 \(Locked\)/],
  ...microphoneOptions(config.speech),
};

await run("upload page", browserName, new URL(config.base).origin, options, async ({ browser, check, observed }) => {
  const { log, must } = narrate(check);
  const click = (selector) =>
    browser.evaluate((s) => {
      const node = document.querySelector(s);
      if (!node) throw new Error(`no ${s}`);
      node.click();
    }, selector);
  const text = (selector) =>
    browser.evaluate((s) => {
      const node = document.querySelector(s);
      return node ? node.textContent : null;
    }, selector);
  /** Waits for the page's scan line to leave `pending`; returns { state, text }. */
  const scanOutcome = async () => {
    await browser.waitForFunction(
      () => {
        const scan = document.getElementById("scan");
        return scan && scan.dataset.scanState && scan.dataset.scanState !== "pending";
      },
      null,
      SCAN_TIMEOUT_MS,
    );
    return browser.evaluate(() => {
      const scan = document.getElementById("scan");
      return { state: scan.dataset.scanState || null, text: scan.textContent };
    });
  };

  await signIn(browser, {
    token: config.token,
    scheme: "Bearer",
    account: config.account,
    scopes: config.scopes,
    expiresAt: null,
    via: "key",
  });
  await browser.addInitScript(() => {
    // Every upload request the page makes, counted before it leaves the page.
    window.__uploads = 0;
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (...args) {
      window.__uploads += 1;
      return send.apply(this, args);
    };
  });
  await fakeMicrophone(browser, browserName, config.speech);
  observed.audioRequests = [];
  browser.onResponse((res) => {
    if (res.url.includes("/api/v1/audio")) observed.audioRequests.push(res);
  });

  // --- (a) record, listen back, upload, scan, view --------------------------------------------
  const home = `${config.base}/`;
  let { status } = await browser.goto(home);
  log(status === 200, "/ answers 200", status);
  log(
    await browser.waitForFunction(() => document.getElementById("send").textContent === "Upload", null, STEP_TIMEOUT_MS),
    "the page sees the session (the button says Upload)",
    await text("#send"),
  );
  log(
    await browser.evaluate(() => document.getElementById("signed-out").hidden),
    "no sign-in notice for a signed-in person",
  );
  await click("#record");
  const recording = await browser.waitForFunction(
    () => !document.getElementById("stop").disabled,
    null,
    STEP_TIMEOUT_MS,
  );
  must(recording, "recording starts (Stop becomes enabled)", await text("#record-status"));
  // The level meter, sampled while recording.
  await browser.evaluate(() => {
    window.__levels = [];
    window.__levelTimer = setInterval(
      () => window.__levels.push(document.getElementById("level").value),
      100,
    );
  });
  await new Promise((resolve) => setTimeout(resolve, 3200));
  const during = await browser.evaluate(() => {
    clearInterval(window.__levelTimer);
    return {
      maxLevel: Math.max(0, ...window.__levels),
      timer: document.getElementById("timer").textContent,
      fake: window.__fakeMicrophone || "browser",
    };
  });
  observed.recording = during;
  log(during.maxLevel > 0.05, "the level meter moves while the speech plays", during);
  log(/^0:0[3-4]$/.test(during.timer), "the timer shows about three seconds", during.timer);
  await click("#stop");
  const recorded = await browser.waitForFunction(
    () => !document.getElementById("chosen").hidden && !document.getElementById("send").disabled,
    null,
    STEP_TIMEOUT_MS,
  );
  observed.recorded = await browser.evaluate(() => ({
    name: document.getElementById("chosen-name").textContent,
    src: document.getElementById("preview").src,
    refusal: document.getElementById("refusal").textContent,
    status: document.getElementById("record-status").textContent,
  }));
  must(recorded, "stopping gives a clip ready to upload", observed.recorded);
  log(observed.recorded.src.startsWith("blob:"), "the recording plays back from a blob: URL", observed.recorded.src);
  log(/^recording-.*\.(webm|ogg|m4a)/.test(observed.recorded.name), "the recording is named recording-<date>.<ext>", observed.recorded.name);
  const listen = await browser.evaluate(async (timeout) => {
    const audio = document.getElementById("preview");
    audio.muted = true;
    try {
      await Promise.race([
        audio.play(),
        new Promise((_, reject) => setTimeout(() => reject(new Error("play() pending")), timeout)),
      ]);
    } catch (e) {
      return { ok: false, error: String(e) };
    }
    return { ok: true };
  }, STEP_TIMEOUT_MS);
  const advanced = await browser.waitForFunction(
    () => document.getElementById("preview").currentTime > 0.2,
    null,
    STEP_TIMEOUT_MS,
  );
  log(listen.ok && advanced, "listening back plays the recording", listen);
  await browser.evaluate(() => document.getElementById("preview").pause());
  await audit(browser, log, "recorded", shots);

  await browser.evaluate((title) => {
    document.getElementById("title").value = title;
    document.getElementById("description").value = "Three seconds from a fake microphone.";
    document.getElementById("expires-in").value = "P7D";
  }, `Recorded in ${browserName}`);
  await click("#send");
  const uploaded = await browser.waitForFunction(
    () => !document.getElementById("done").hidden || document.getElementById("refusal").textContent,
    null,
    STEP_TIMEOUT_MS,
  );
  observed.afterUpload = await browser.evaluate(() => ({
    done: !document.getElementById("done").hidden,
    refusal: document.getElementById("refusal").textContent,
    share: document.getElementById("share-link").href,
    copy: Boolean(document.querySelector("#copy-slot button.copy")),
    progress: document.getElementById("progress").value,
    progressText: document.getElementById("progress-text").textContent,
    focused: document.activeElement && document.activeElement.id,
  }));
  must(uploaded && observed.afterUpload.done, "the recording uploads", observed.afterUpload);
  log(observed.afterUpload.progress === 100, "the progress bar reached 100%", observed.afterUpload.progressText);
  log(observed.afterUpload.copy, "the share link has a copy button");
  const share = observed.afterUpload.share;
  log(/\/[A-Za-z0-9_-]+$/.test(share) && share.startsWith(config.base), "the share link is the view page", share);
  const scanned = await scanOutcome();
  observed.recordingScan = scanned;
  log(scanned.state === "clean", "the recording's scan becomes clean", scanned);
  await audit(browser, log, "uploaded", shots);

  ({ status } = await browser.goto(share));
  log(status === 200, "the view page answers 200", status);
  const play = await browser.evaluate(async (timeout) => {
    const audio = document.getElementById("player");
    if (!audio) return { ok: false, error: "no #player" };
    audio.muted = true;
    try {
      await Promise.race([
        audio.play(),
        new Promise((_, reject) => setTimeout(() => reject(new Error("play() pending")), timeout)),
      ]);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, STEP_TIMEOUT_MS);
  const playing = await browser.waitForFunction(
    () => document.getElementById("player").currentTime > 0.2,
    null,
    STEP_TIMEOUT_MS,
  );
  observed.viewPlay = { ...play, duration: await browser.evaluate(() => document.getElementById("player").duration) };
  log(play.ok && playing, "the view page plays the recording", observed.viewPlay);

  // --- (b) the file chooser ---------------------------------------------------------------
  await browser.goto(home);
  await browser.setInputFiles("#file", config.good);
  const chosen = await browser.waitForFunction(
    () => !document.getElementById("send").disabled,
    null,
    STEP_TIMEOUT_MS,
  );
  must(chosen, "a chosen audio file is ready to upload", await text("#refusal"));
  await click("#send");
  await browser.waitForFunction(() => !document.getElementById("done").hidden, null, STEP_TIMEOUT_MS);
  const chosenScan = await scanOutcome();
  observed.chosenScan = chosenScan;
  log(chosenScan.state === "clean", "the chosen file's scan becomes clean", chosenScan);

  // --- (c) not audio: refused in the page, nothing sent ------------------------------------
  await browser.goto(home);
  const before = observed.audioRequests.length;
  await browser.setInputFiles("#file", config.bad);
  const refused = await browser.waitForFunction(
    () => document.getElementById("refusal").textContent !== "",
    null,
    STEP_TIMEOUT_MS,
  );
  const refusal = await text("#refusal");
  observed.refusal = refusal;
  log(refused && refusal === config.refusal, "the page refuses it in the API's words", {
    page: refusal,
    api: config.refusal,
  });
  const blocked = await browser.evaluate(() => {
    const send = document.getElementById("send");
    // A disabled submit button does nothing; submitting the form by other means must not
    // send either.
    document.getElementById("details").requestSubmit();
    return send.disabled;
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  log(blocked, "Upload stays disabled");
  const uploads = await browser.evaluate(() => window.__uploads);
  log(
    uploads === 0 && observed.audioRequests.length === before,
    "no upload request was sent",
    { uploads, responses: observed.audioRequests.length - before },
  );
  await audit(browser, log, "refused", shots);

  // --- (e) cancel: the upload stops and the page keeps the clip ----------------------------
  // Cancelled at the first progress event of a large file, so the body is surely unfinished.
  await browser.goto(home);
  await browser.setInputFiles("#file", config.large);
  must(
    await browser.waitForFunction(() => !document.getElementById("send").disabled, null, STEP_TIMEOUT_MS),
    "a large audio file is ready to upload",
    await text("#refusal"),
  );
  await browser.evaluate(() => {
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (...args) {
      this.upload.addEventListener("progress", () => document.getElementById("cancel").click(), { once: true });
      return send.apply(this, args);
    };
  });
  await click("#send");
  const cancelled = await browser.waitForFunction(
    () => document.getElementById("refusal").textContent.includes("cancelled"),
    null,
    STEP_TIMEOUT_MS,
  );
  observed.cancelled = await browser.evaluate(() => ({
    refusal: document.getElementById("refusal").textContent,
    done: !document.getElementById("done").hidden,
    sending: !document.getElementById("sending").hidden,
    clipKept: !document.getElementById("chosen").hidden && !document.getElementById("send").disabled,
  }));
  log(
    cancelled && !observed.cancelled.done && !observed.cancelled.sending && observed.cancelled.clipKept,
    "Cancel stops the upload and keeps the clip in the page",
    observed.cancelled,
  );

  // --- (d) the token is refused mid-upload: the recording survives sign-in -------------------
  // A session whose token the server does not accept, as when it expired or was revoked.
  await browser.evaluate(() =>
    sessionStorage.setItem(
      "voicebin.session",
      JSON.stringify({ token: "not-a-valid-token", scheme: "Bearer", account: "alice", scopes: [], expiresAt: null, via: "key" }),
    ),
  );
  await browser.goto(home);
  await click("#record");
  must(
    await browser.waitForFunction(() => !document.getElementById("stop").disabled, null, STEP_TIMEOUT_MS),
    "recording starts again",
    await text("#record-status"),
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await click("#stop");
  must(
    await browser.waitForFunction(() => !document.getElementById("send").disabled, null, STEP_TIMEOUT_MS),
    "the second recording is ready",
    await text("#refusal"),
  );
  const kept = await browser.evaluate(() => {
    document.getElementById("title").value = "Kept across sign-in";
    return document.getElementById("chosen-name").textContent.split(" · ")[0];
  });
  await click("#send");
  const sentToSignIn = await browser.waitForFunction(
    () => location.pathname.endsWith("/signin"),
    null,
    STEP_TIMEOUT_MS,
  );
  const signInUrl = await browser.evaluate(() => location.href);
  must(sentToSignIn && signInUrl.includes("reason=expired"), "a refused token sends the person to sign in", signInUrl);
  // Signed out now: the page still has the recording, and says to sign in to upload it.
  await browser.goto(home);
  const signedOut = await browser.waitForFunction(
    () => !document.getElementById("restored").hidden,
    null,
    STEP_TIMEOUT_MS,
  );
  observed.signedOut = await browser.evaluate(() => ({
    notice: !document.getElementById("signed-out").hidden,
    noticeText: document.getElementById("signed-out").textContent,
    send: document.getElementById("send").textContent,
    restored: document.getElementById("restored").textContent,
    canRecord: !document.getElementById("record").disabled,
  }));
  log(
    signedOut && observed.signedOut.notice && observed.signedOut.send === "Sign in to upload" && observed.signedOut.canRecord,
    "signed out, the page keeps the recording, lets you record and says to sign in to upload",
    observed.signedOut,
  );
  // Signing in again (as the sign-in page does, in sessionStorage), then back to the page.
  await browser.evaluate((value) => sessionStorage.setItem("voicebin.session", value), JSON.stringify({
    token: config.token,
    scheme: "Bearer",
    account: config.account,
    scopes: config.scopes,
    expiresAt: null,
    via: "key",
  }));
  await browser.goto(home);
  const restored = await browser.waitForFunction(
    () => !document.getElementById("restored").hidden && !document.getElementById("send").disabled,
    null,
    STEP_TIMEOUT_MS,
  );
  observed.restored = await browser.evaluate(() => ({
    notice: document.getElementById("restored").textContent,
    name: document.getElementById("chosen-name").textContent,
    title: document.getElementById("title").value,
    src: document.getElementById("preview").src,
  }));
  must(
    restored && observed.restored.name.startsWith(kept) && observed.restored.title === "Kept across sign-in",
    "the unsent recording and its title are back after signing in",
    { kept, ...observed.restored },
  );
  await click("#send");
  must(
    await browser.waitForFunction(() => !document.getElementById("done").hidden, null, STEP_TIMEOUT_MS),
    "the kept recording uploads",
    await text("#refusal"),
  );
  const keptScan = await scanOutcome();
  log(keptScan.state === "clean", "the kept recording's scan becomes clean", keptScan);
  // Uploaded, it is no longer kept: a reload starts empty.
  await browser.goto(home);
  await new Promise((resolve) => setTimeout(resolve, 500));
  log(
    await browser.evaluate(() => document.getElementById("restored").hidden && document.getElementById("chosen").hidden),
    "once uploaded, the draft is gone",
  );
});
