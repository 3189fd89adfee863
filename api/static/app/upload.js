// `/`: choose (or drop) an audio file or record one, listen back, add a title, description and
// download limit, upload it with progress and a cancel button, then watch its scan and share it.
//
// What the API would refuse (too large, not audio by its first bytes, past the account's quota)
// is refused here before a byte is sent, in the API's own words (sniff.js); the API still
// decides and its problem detail is shown when it refuses. An unsent clip survives a trip to /signin (drafts.js).
//
// A signed-in upload is resumable (tus 1.0 at /api/v1/uploads, through the vendored
// tus-js-client, tus.js): sent in chunks, it carries on from where the server stands after a
// broken connection, and an interrupted upload of the same clip continues after a reload or a
// new sign-in (its upload URL is kept in localStorage, which ADR 0013 keeps tokens out of: an
// upload URL is no credential, every request about it needs the session's; a recording being
// sent is kept as the draft). An anonymous upload (ALTCHA) is one request to /api/v1/audio.
import "./nav.js";
import { $, el, announce, copyButton, formatBytes, formatDuration, problemText } from "./ui.js";
import {
  api,
  authHeaders,
  base,
  current,
  expired,
  goSignIn,
  noteNonce,
  onExpired,
  path,
  problemOf,
  Problem,
  rememberNonce,
} from "./session.js";
import { refusalOf } from "./sniff.js";
import { canRecord, startRecording } from "./recorder.js";
import { clearDraft, loadDraft, saveDraft } from "./drafts.js";
import { loadAltcha, solve } from "./altcha.js";
import { loadTus } from "./tus.js";

const config = document.body.dataset;
const MAX = Number(config.maxUploadBytes) || Infinity;
const ANONYMOUS = config.anonymousUploads === "on";
const ANONYMOUS_MAX = Number(config.anonymousMaxUploadBytes) || MAX;
const ANONYMOUS_LIFETIME = Number(config.anonymousLifetimeSecs) || Infinity;

// Who sends the upload and with what credentials: a signed-in person with the session's token,
// or, when the operator allows it and nobody is signed in, an anonymous uploader whose browser
// solves a proof-of-work challenge (the ALTCHA widget) and sends the solution as `x-altcha`.
const signedIn = {
  anonymous: false,
  ready: () => current() !== null,
  max: () => MAX,
  headers: (method, url) => authHeaders(method, url),
};
const widget = $("#altcha");
/** The widget's current solution (it solves one when the person ticks it), or null. */
let solved = null;
if (widget) {
  widget.addEventListener("statechange", (e) => {
    solved = e.detail && e.detail.state === "verified" ? e.detail.payload : null;
  });
}
const anonymous = {
  anonymous: true,
  ready: () => true,
  max: () => Math.min(MAX, ANONYMOUS_MAX),
  headers: async () => {
    const payload = solved || (await solve(widget));
    solved = null;
    return { "x-altcha": payload };
  },
};
/** The uploader for now (the session can change while the page is open). */
const uploader = () => (current() === null && ANONYMOUS && widget ? anonymous : signedIn);
if (ANONYMOUS && widget) loadAltcha();

/** Durations the expiry menu offers, in seconds. */
const OPTION_SECS = { PT1H: 3_600, P1D: 86_400, P7D: 604_800, P30D: 2_592_000 };

/** The clip about to be sent: { blob, name, recorded, key, fromDraft } or null (`key`: see
 *  `resumeKey`; `fromDraft`: its blob was read from the kept draft). */
let clip = null;
let previewUrl = null;
let recording = null;
let sending = null;

const refusal = $("#refusal");
const preview = $("#preview");
const send = $("#send");
const fields = {
  title: $("#title"),
  description: $("#description"),
  downloadLimit: $("#download-limit"),
  expiresIn: $("#expires-in"),
};

function showRefusal(text) {
  refusal.textContent = text;
}

function setClip(next) {
  clip = next;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  $("#chosen").hidden = !clip;
  if (clip) {
    previewUrl = URL.createObjectURL(clip.blob);
    preview.src = previewUrl;
    $("#chosen-name").textContent = `${clip.name} · ${formatBytes(clip.blob.size)}`;
  } else {
    preview.removeAttribute("src");
    preview.load();
  }
  updateSend();
}

function updateSend() {
  const who = uploader();
  const signedOut = !who.ready();
  send.textContent = signedOut ? "Sign in to upload" : who.anonymous ? "Upload anonymously" : "Upload";
  send.disabled = !clip || Boolean(recording) || Boolean(sending);
  $("#signed-out").hidden = !signedOut;
  $("#signed-out-anonymous").hidden = !who.anonymous;
  if ($("#anonymous")) $("#anonymous").hidden = !who.anonymous;
  // An anonymous clip always expires, within the anonymous lifetime.
  for (const option of fields.expiresIn.options) {
    const secs = OPTION_SECS[option.value];
    if (option.value === "") {
      option.textContent = who.anonymous ? "As late as allowed for anonymous uploads" : "Never (or this server's default)";
    } else {
      option.disabled = who.anonymous && secs > ANONYMOUS_LIFETIME;
      if (option.disabled && option.selected) fields.expiresIn.value = "";
    }
  }
}

/** What names a clip's upload across attempts, reloads and sign-ins (with the account and the
 *  details, it finds an interrupted upload to resume): a chosen file by its name, type, size
 *  and date, which the browser gives again when the same file is chosen again; a recording by
 *  a random id of its own, kept with it in its draft. */
function resumeKey(blob, recorded) {
  if (!recorded && typeof File !== "undefined" && blob instanceof File) {
    return `file:${blob.name}:${blob.type}:${blob.size}:${blob.lastModified}`;
  }
  const id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `recording:${id}`;
}

/** Checks `blob` as the API would, then makes it the clip to send (or says why not). */
async function take(blob, name, recorded) {
  showRefusal("");
  const refused = await refusalOf(blob, uploader().max());
  if (refused) {
    setClip(null);
    showRefusal(problemText({ problem: refused }));
    return;
  }
  setClip({ blob, name, recorded, key: resumeKey(blob, recorded) });
  announce(`${name} is ready to upload`);
}

// --- choosing or dropping a file --------------------------------------------------------------

$("#file").addEventListener("change", (e) => {
  const file = e.target.files && e.target.files[0];
  if (file) take(file, file.name, false);
});

const drop = $("#drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer && e.dataTransfer.files[0];
  if (file) take(file, file.name, false);
});

// --- recording --------------------------------------------------------------------------------

const recordButton = $("#record");
const stopButton = $("#stop");
const level = $("#level");
const timer = $("#timer");
const recordStatus = $("#record-status");

function recordingName(type) {
  const ext = type.includes("mp4") ? "m4a" : type.includes("ogg") ? "ogg" : "webm";
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, "-");
  return `recording-${stamp}.${ext}`;
}

if (!canRecord()) {
  recordButton.disabled = true;
  recordStatus.textContent = "This browser cannot record here (it needs a secure connection and microphone support).";
}

recordButton.addEventListener("click", async () => {
  showRefusal("");
  recordButton.disabled = true;
  recordStatus.textContent = "Asking for the microphone…";
  let started;
  try {
    const session = await startRecording({
      onLevel: (value) => {
        level.value = value;
        level.textContent = `${Math.round(value * 100)}%`;
      },
    });
    recording = session;
    started = Date.now();
  } catch (e) {
    recordButton.disabled = false;
    recordStatus.textContent = `The microphone could not be opened: ${e && e.message ? e.message : e}`;
    return;
  }
  const tick = setInterval(() => {
    timer.textContent = formatDuration(Date.now() - started);
  }, 250);
  recording.tick = tick;
  timer.textContent = "0:00";
  stopButton.disabled = false;
  recordButton.textContent = "Record again";
  recordStatus.textContent = "Recording…";
  updateSend();
  stopButton.focus();
});

stopButton.addEventListener("click", async () => {
  if (!recording) return;
  const session = recording;
  stopButton.disabled = true;
  clearInterval(session.tick);
  let blob;
  try {
    blob = await session.stop();
  } catch (e) {
    recordStatus.textContent = `The recording failed: ${e && e.message ? e.message : e}`;
    blob = null;
  }
  recording = null;
  recordButton.disabled = false;
  if (blob) {
    recordStatus.textContent = `Recorded ${timer.textContent}. Listen back below, or record again.`;
    await take(blob, recordingName(blob.type), true);
  }
  updateSend();
  recordButton.focus();
});

$("#discard").addEventListener("click", async () => {
  setClip(null);
  await clearDraft();
  announce("Discarded");
  $("#file").value = "";
});

// --- keeping an unsent clip across sign-in ----------------------------------------------------

function draftOfPage() {
  return {
    blob: clip.blob,
    name: clip.name,
    recorded: clip.recorded,
    key: clip.key,
    title: fields.title.value,
    description: fields.description.value,
    downloadLimit: fields.downloadLimit.value,
    expiresIn: fields.expiresIn.value,
  };
}

onExpired(async () => {
  if (clip) await saveDraft(draftOfPage());
});

// Each sign-in link (the notices', the header's) keeps the clip and comes back here.
for (const link of [$("#signin-link"), $("#signin-link-anonymous"), $("#sign-in")]) {
  if (!link) continue;
  link.addEventListener("click", async (e) => {
    e.preventDefault();
    if (clip) await saveDraft(draftOfPage());
    goSignIn();
  });
}

async function restoreDraft() {
  const draft = await loadDraft();
  if (!draft || !draft.blob) return;
  fields.title.value = draft.title || "";
  fields.description.value = draft.description || "";
  fields.downloadLimit.value = draft.downloadLimit || "";
  fields.expiresIn.value = draft.expiresIn || "";
  setClip({
    blob: draft.blob,
    name: draft.name,
    recorded: draft.recorded,
    key: draft.key || resumeKey(draft.blob, draft.recorded),
    fromDraft: true,
  });
  const restored = $("#restored");
  restored.hidden = false;
  const what = `Your unsent ${draft.recorded ? "recording" : "file"} (${draft.name})`;
  restored.textContent = !uploader().ready()
    ? `${what} is kept here until you sign in and upload it, or discard it.`
    : draft.cancelled
      ? `${what} was kept: listen to it and upload it, or discard it.`
      : draft.uploading
        ? `${what} was being uploaded when the page closed: upload it to carry on from where it stopped, or discard it.`
        : `${what} was kept while you signed in: listen to it and upload it, or discard it.`;
}

// --- uploading --------------------------------------------------------------------------------

const progress = $("#progress");
const progressText = $("#progress-text");
const progressLive = $("#progress-live");

/** Sends the form to `POST /api/v1/audio` in one request (an anonymous upload), with
 *  XMLHttpRequest (fetch reports no upload progress). Resolves to the created item; rejects
 *  with a Problem, or with an AbortError when cancelled. */
async function upload(form, onProgress) {
  const url = path("/api/v1/audio");
  const headers = await uploader().headers("POST", url);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    sending = xhr;
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : null));
    xhr.addEventListener("load", async () => {
      const response = new Response(xhr.responseText, {
        status: xhr.status,
        headers: { "content-type": xhr.getResponseHeader("content-type") || "" },
      });
      if (xhr.status === 201) {
        resolve(await response.json());
      } else {
        reject(await problemOf(response));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new Problem(0, { title: "Network error", detail: "voicebin could not be reached; check your connection and try again." })),
    );
    xhr.addEventListener("abort", () => reject(new DOMException("cancelled", "AbortError")));
    xhr.send(form);
  });
}

/** Bytes per PATCH of a resumable upload: what a broken connection can cost again, at most. */
const CHUNK_BYTES = 5 * 1024 * 1024;
/** The waits (ms) before each retry after a broken connection, a busy upload or a server error
 *  (the count starts again once bytes get through). Together they outlast the 30 s the server
 *  waits on a connection that went silent before another request may append. */
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
/** Unfinished uploads older than this are forgotten: the server removes them within a day. */
const FORGET_AFTER_MS = 24 * 3600 * 1000;
/** The prefix of this site's fingerprints in tus-js-client's URL storage. */
const FINGERPRINT = "voicebin-";

/** A failed tus request as a Problem: the API's problem when it answered, a network error when
 *  it did not. */
function problemOfTus(error) {
  const response = error && error.originalResponse;
  const status = response ? response.getStatus() : 0;
  if (!status) {
    return new Problem(0, {
      title: "Network error",
      detail: "voicebin could not be reached; check your connection and upload again: it carries on from where it stopped.",
    });
  }
  let problem;
  try {
    problem = JSON.parse(response.getBody() || "");
  } catch {
    problem = null;
  }
  return new Problem(status, problem && typeof problem === "object" ? problem : { title: `HTTP ${status}` });
}

/** tus-js-client's storage of upload URLs (localStorage), except that an upload whose request
 *  was refused for its credentials (401) is not forgotten: it resumes once the person has
 *  signed in again. `refused()` says whether the last answer was such a refusal. */
function keepingOnRefusal(storage, refused) {
  return {
    findAllUploads: () => storage.findAllUploads(),
    findUploadsByFingerprint: (fingerprint) => storage.findUploadsByFingerprint(fingerprint),
    addUpload: (fingerprint, upload) => storage.addUpload(fingerprint, upload),
    removeUpload: (key) => (refused() ? Promise.resolve() : storage.removeUpload(key)),
  };
}

/**
 * Uploads `sent` (the clip) resumably (tus 1.0 at `/api/v1/uploads`, with the session's
 * credentials on every request: a DPoP proof is made per method and URL). `meta` is the tus
 * metadata. An
 * earlier attempt at the same clip with the same details, by this account, is resumed from
 * where the server stands; one with other details is deleted (the details are fixed when an
 * upload is created). Resolves to the created item; rejects with a Problem, or with an
 * AbortError when cancelled (the upload is then deleted on the server: `kept` says when that
 * could not be done).
 */
async function uploadResumably(sent, meta, onProgress, onRetry) {
  let cancelled = false;
  sending = { abort: () => (cancelled = true) };
  const tus = await loadTus();
  if (cancelled) throw new DOMException("cancelled", "AbortError");
  const endpoint = new URL(path("/api/v1/uploads"), location.href).href;
  const account = (current() || {}).account || "";
  const fingerprint = `${FINGERPRINT}${account}-${endpoint}-${sent.key}`;
  let refused = false;
  let stopping = false;
  const storage = keepingOnRefusal(tus.defaultOptions.urlStorage, () => refused);
  /** Whether a failed request is tried again (after the next of RETRY_DELAYS). */
  const shouldRetry = (error) => {
    const res = error.originalResponse;
    const status = res ? res.getStatus() : 0;
    if (status === 401) return /error="use_dpop_nonce"/.test(res.getHeader("WWW-Authenticate") || "");
    // Not a 4xx but a broken connection, a server error, a busy upload (423) or an offset the
    // server does not stand at (409): tus-js-client asks where it stands and carries on.
    const transient = status === 0 || status >= 500 || status === 409 || status === 423;
    return transient && navigator.onLine !== false;
  };
  const options = {
    endpoint,
    metadata: meta,
    chunkSize: CHUNK_BYTES,
    retryDelays: RETRY_DELAYS,
    urlStorage: storage,
    fingerprint: () => Promise.resolve(fingerprint),
    // Forgotten only once the item has been read (below): until then a reload finds the
    // completed upload, whose HEAD names the clip, rather than uploading the clip again.
    removeFingerprintOnSuccess: false,
    async onBeforeRequest(req) {
      const headers = await authHeaders(req.getMethod(), req.getURL());
      for (const [name, value] of Object.entries(headers)) req.setHeader(name, value);
    },
    onAfterResponse(_req, res) {
      rememberNonce(res.getHeader("DPoP-Nonce"));
      refused = res.getStatus() === 401;
    },
    onShouldRetry: shouldRetry,
  };
  // Forget unfinished uploads the server has removed by now.
  for (const old of await storage.findAllUploads()) {
    const age = Date.now() - Date.parse(old.creationTime);
    if (old.urlStorageKey.startsWith(`tus::${FINGERPRINT}`) && !(age < FORGET_AFTER_MS)) {
      await storage.removeUpload(old.urlStorageKey);
    }
  }
  const lastResponse = await new Promise((resolve, reject) => {
    const upload = new tus.Upload(sent.blob, {
      ...options,
      onProgress,
      onShouldRetry(error, attempt, opts) {
        const retry = shouldRetry(error);
        // A new nonce is no news to the person; a broken connection is.
        const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
        if (retry && status !== 401 && !stopping) onRetry(opts.retryDelays[attempt]);
        return retry;
      },
      onSuccess: ({ lastResponse: res }) => resolve(res),
      onError: (error) => reject(problemOfTus(error)),
    });
    sending = {
      abort: () => {
        stopping = true;
        const aborted = new DOMException("cancelled", "AbortError");
        upload.abort(true).then(
          () => reject(aborted),
          () => reject(Object.assign(aborted, { kept: true })),
        );
      },
    };
    (async () => {
      const previous = await upload.findPreviousUploads();
      if (stopping) return;
      const same = (p) => p.size === sent.blob.size && JSON.stringify(p.metadata) === JSON.stringify(meta);
      const newest = (a, b) => (Date.parse(a.creationTime) || 0) - (Date.parse(b.creationTime) || 0);
      const resume = previous.filter(same).sort(newest).pop();
      for (const stale of previous.filter((p) => p !== resume)) {
        // Other details: never to be finished. Deleted in the background, on a best effort.
        if (stale.uploadUrl) tus.Upload.terminate(stale.uploadUrl, options).catch(() => {});
        await storage.removeUpload(stale.urlStorageKey);
      }
      if (resume) upload.resumeFromPreviousUpload(resume);
      upload.start();
    })().catch(reject);
  });
  // The completing PATCH (or the HEAD of an upload completed before) names the clip, at the
  // site's canonical address; this page reads it from its own origin, which serves the same API.
  const location_ = lastResponse.getHeader("Content-Location");
  const item = location_ && new URL(location_, endpoint);
  if (!item || !item.pathname.startsWith(path("/api/v1/items/"))) {
    throw new Problem(lastResponse.getStatus(), { title: "Unexpected answer", detail: "the upload finished but did not name its clip" });
  }
  const created = await api(item.pathname.slice(base.length));
  for (const done of await storage.findUploadsByFingerprint(fingerprint)) {
    await storage.removeUpload(done.urlStorageKey);
  }
  return created;
}

/** Why the account's quota leaves no room for `size` more bytes (GET /api/v1/account), or
 *  null: also when the account cannot be read, since the API decides anyway (and an expired
 *  sign-in is handled when the upload itself is refused, once). */
async function quotaProblem(size) {
  let account;
  try {
    const url = path("/api/v1/account");
    const response = await fetch(url, {
      headers: { Accept: "application/json", ...(await signedIn.headers("GET", url)) },
    });
    noteNonce(response);
    if (!response.ok) return null;
    account = await response.json();
  } catch {
    return null;
  }
  const { usage, limits } = account;
  const stands = [];
  if (limits.clips !== null) stands.push(`${usage.clips} of ${limits.clips} clips`);
  if (limits.bytes !== null) stands.push(`${formatBytes(usage.bytes)} of ${formatBytes(limits.bytes)} stored`);
  const noClip = limits.clips !== null && usage.clips >= limits.clips;
  const noRoom = limits.bytes !== null && usage.bytes + size > limits.bytes;
  if (!noClip && !noRoom) return null;
  return `Quota exceeded: this clip would take your account past its quota (${stands.join(", ")}); delete clips on My clips to make room.`;
}

function limitProblem() {
  const raw = fields.downloadLimit.value.trim();
  if (raw === "") return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000_000) {
    return "The download limit must be a whole number from 1 to 1000000000, or empty for unlimited.";
  }
  return null;
}

$("#details").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!clip || sending) return;
  const who = uploader();
  if (!who.ready()) {
    await saveDraft(draftOfPage());
    goSignIn();
    return;
  }
  const limitError = limitProblem();
  if (limitError) {
    showRefusal(limitError);
    fields.downloadLimit.focus();
    return;
  }
  showRefusal("");
  // The size limit may have changed with the session since the clip was chosen.
  const tooLarge = await refusalOf(clip.blob, who.max());
  if (tooLarge) {
    showRefusal(problemText({ problem: tooLarge }));
    return;
  }
  const quotaError = who.anonymous ? null : await quotaProblem(clip.blob.size);
  if (quotaError) {
    showRefusal(quotaError);
    announce(quotaError);
    return;
  }
  // The details, as the form's fields and as tus metadata (only those given, in this order).
  const details = { filename: clip.name };
  if (fields.title.value.trim()) details.title = fields.title.value.trim();
  if (fields.description.value.trim()) details.description = fields.description.value.trim();
  if (fields.downloadLimit.value.trim()) details.download_limit = fields.downloadLimit.value.trim();
  if (fields.expiresIn.value) details.expires_in = fields.expiresIn.value;

  $("#sending").hidden = false;
  progress.value = 0;
  progressText.textContent = who.anonymous ? "Solving the anti-spam puzzle…" : `0 B of ${formatBytes(clip.blob.size)} (0%)`;
  progressLive.textContent = who.anonymous ? "Solving the anti-spam puzzle before the upload" : "Upload started";
  let lastStep = 0;
  let interrupted = false;
  const onProgress = (loaded, total) => {
    const whole = total || clip.blob.size;
    const pct = Math.min(100, Math.floor((loaded / whole) * 100));
    progress.value = pct;
    progressText.textContent = `${formatBytes(loaded)} of ${formatBytes(whole)} (${pct}%)`;
    // Announced at coarse steps only, so a screen reader is not flooded.
    const step = Math.floor(pct / 25) * 25;
    if (step > lastStep) {
      lastStep = step;
      progressLive.textContent = `Uploaded ${step}%`;
    } else if (interrupted) {
      progressLive.textContent = "Upload resumed";
    }
    interrupted = false;
  };
  const onRetry = (delay) => {
    interrupted = true;
    const when = delay >= 1000 ? `in ${Math.round(delay / 1000)} s` : "now";
    progressText.textContent = `The connection broke; carrying on from where it stopped ${when}…`;
    progressLive.textContent = "The connection broke; the upload carries on when it can";
  };
  updateSend();
  send.disabled = true;
  try {
    let item;
    if (who.anonymous) {
      // Metadata fields go before the file: the API reads the form as a stream.
      const form = new FormData();
      for (const [name, value] of Object.entries(details)) if (name !== "filename") form.append(name, value);
      form.append("file", clip.blob, clip.name);
      item = await upload(form, onProgress);
    } else {
      // A recording lives only in this page: kept as the draft while it is sent, so a reload
      // or a closed tab can carry on with it (cleared once uploaded, below). One read from the
      // draft is kept already, and must not be stored over its own record: Firefox then
      // cannot read the Blob it gave this page.
      if (clip.recorded && !clip.fromDraft) await saveDraft({ ...draftOfPage(), uploading: true }).catch(() => {});
      item = await uploadResumably(clip, details, onProgress, onRetry);
    }
    sending = null;
    $("#sending").hidden = true;
    await clearDraft();
    showDone(item);
  } catch (error) {
    sending = null;
    $("#sending").hidden = true;
    if (error && error.name === "AbortError") {
      // Still kept in this browser: only the upload was cancelled.
      if (clip && clip.recorded && !clip.fromDraft) await saveDraft({ ...draftOfPage(), cancelled: true }).catch(() => {});
      if (error.kept) {
        announce("Upload cancelled.");
        showRefusal("Upload cancelled. The server could not be told, so it keeps what it received until the upload expires. Your clip is still here, ready to upload.");
      } else {
        announce("Upload cancelled; nothing was kept.");
        showRefusal("Upload cancelled: the server keeps nothing of it. Your clip is still here, ready to upload.");
      }
    } else if (who.anonymous && widget) {
      // A solution is good once: the next try solves a new puzzle.
      widget.reset();
      showRefusal(problemText(error));
    } else if (error && error.status === 401 && current()) {
      // The token expired: keep the clip (onExpired) and sign in again.
      await expired();
      return;
    } else {
      showRefusal(problemText(error));
    }
    updateSend();
  }
});

$("#cancel").addEventListener("click", () => {
  if (sending) sending.abort();
});

// --- after the upload: share link and scan state ---------------------------------------------

// What the scan's outcome means for the person who uploaded; the scan's own reason (a short
// phrase such as "audio stream is damaged: …", "malware: Eicar-Signature" or "decoding it
// needed more than 1024 MiB of memory, …") follows in brackets.
const SCAN_WORDS = {
  pending: "Checking the clip (virus scan and audio validation)…",
  clean: "Ready: the clip passed its checks. Anyone with the link can listen to it.",
  rejected: "Refused: the clip did not pass the audio check, so it is not served to anyone",
  infected: "Refused: the virus scanner found malware in this file, so it is not served to anyone",
  failed: "The checks could not be completed, so the clip is not served; the site's operator can run them again",
};

/** The scan line: the state's words, with the scan's reason when it did not end clean. */
function scanWords(state, detail) {
  const words = SCAN_WORDS[state] || `Scan state: ${state}`;
  if (state === "pending" || state === "clean") return words;
  return detail ? `${words} (${detail}).` : `${words}.`;
}

function showDone(item) {
  const done = $("#done");
  const manage = $("#manage");
  manage.hidden = !item.management;
  if (item.management) {
    const link = $("#manage-link");
    link.href = item.management.url;
    link.textContent = item.management.url;
    $("#manage-copy-slot").replaceChildren(copyButton("Copy management link", item.management.url));
    if (widget) widget.reset();
  }
  const link = $("#share-link");
  link.href = item.urls.view;
  link.textContent = item.urls.view;
  const slot = $("#copy-slot");
  slot.replaceChildren(copyButton("Copy link", item.urls.view));
  $("#view-link").href = item.urls.view;
  $("#details").hidden = true;
  done.hidden = false;
  $("#done-heading").focus();
  setClip(null);
  fields.title.value = "";
  fields.description.value = "";
  fields.downloadLimit.value = "";
  fields.expiresIn.value = "";
  $("#file").value = "";
  $("#restored").hidden = true;
  watchScan(item);
}

let watching = 0;

/** The item as its uploader reads it: with the session, or with an anonymous upload's
 *  management token. */
async function readBack(item) {
  if (!item.management) return api(`/api/v1/items/${encodeURIComponent(item.id)}`);
  const response = await fetch(path(`/api/v1/items/${encodeURIComponent(item.id)}`), {
    headers: { Accept: "application/json", "x-management-token": item.management.token },
  });
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

/** Polls the item until its scan ends, backing off from half a second to eight. */
async function watchScan(item) {
  const run = ++watching;
  const scan = $("#scan");
  let delay = 500;
  let state = item.scan_state || "pending";
  let detail = item.scan_detail;
  for (;;) {
    scan.dataset.scanState = state;
    scan.className = state === "clean" ? "ok" : state === "pending" ? "" : "error";
    scan.textContent = scanWords(state, detail);
    // A refused clip is never served: its link would only ever say "not found".
    const refused = !["pending", "clean"].includes(state);
    $("#share").hidden = refused;
    $("#view-link").hidden = refused;
    if (state !== "pending") return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (run !== watching) return;
    delay = Math.min(8000, delay * 1.6);
    try {
      const latest = await readBack(item);
      state = latest.scan_state || state;
      detail = latest.scan_detail;
    } catch (error) {
      if (error && error.status === 401) return;
      // A blip: keep the last state, try again later.
    }
  }
}

$("#another").addEventListener("click", () => {
  watching += 1;
  $("#done").hidden = true;
  $("#details").hidden = false;
  $("#file").focus();
});

window.addEventListener("voicebin:session", updateSend);
updateSend();
restoreDraft();
