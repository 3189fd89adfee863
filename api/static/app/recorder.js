// Recording from the microphone with MediaRecorder: Opus in WebM where the browser can
// (Chromium, Firefox), MP4/AAC on Safari, and a level for a meter from a Web Audio AnalyserNode.

/** Containers to ask MediaRecorder for, best first, with the file extension each gets. */
const FORMATS = [
  ["audio/webm;codecs=opus", "webm"],
  ["audio/ogg;codecs=opus", "ogg"],
  ["audio/mp4", "m4a"],
  ["audio/webm", "webm"],
];

/** True if this browser can record audio at all. */
export function canRecord() {
  return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
}

/** The first format MediaRecorder supports here: { mimeType, ext }, mimeType "" for its default. */
export function pickFormat() {
  for (const [mimeType, ext] of FORMATS) {
    if (MediaRecorder.isTypeSupported(mimeType)) return { mimeType, ext };
  }
  return { mimeType: "", ext: "webm" };
}

/**
 * Starts recording. `onLevel(0..1)` is called ~10 times a second with the input's peak level.
 * Resolves to { stop(): Promise<Blob>, cancel() } once the microphone is open; rejects if the
 * person (or the browser) refuses it.
 */
export async function startRecording({ onLevel }) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const format = pickFormat();
  let recorder;
  try {
    recorder = new MediaRecorder(stream, format.mimeType ? { mimeType: format.mimeType } : {});
  } catch (e) {
    stream.getTracks().forEach((t) => t.stop());
    throw e;
  }
  const chunks = [];
  recorder.addEventListener("dataavailable", (e) => {
    if (e.data && e.data.size > 0) chunks.push(e.data);
  });

  // The level: peak of the time-domain signal, polled on a timer (requestAnimationFrame stops
  // in a background tab, and the meter is also read by assistive technology).
  const Context = window.AudioContext || window.webkitAudioContext;
  const context = new Context();
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s));
    onLevel(Math.min(1, peak));
  }, 100);
  if (context.state === "suspended") context.resume().catch(() => {});

  const release = () => {
    clearInterval(timer);
    stream.getTracks().forEach((t) => t.stop());
    context.close().catch(() => {});
    onLevel(0);
  };
  // A timeslice, so a long recording is not held in one buffer inside the recorder.
  recorder.start(1000);
  return {
    mimeType: recorder.mimeType || format.mimeType,
    ext: format.ext,
    stop: () =>
      new Promise((resolve, reject) => {
        recorder.addEventListener(
          "stop",
          () => {
            release();
            const type = (recorder.mimeType || format.mimeType || "audio/webm").split(";")[0];
            resolve(new Blob(chunks, { type }));
          },
          { once: true },
        );
        recorder.addEventListener("error", (e) => reject(e.error || e), { once: true });
        recorder.stop();
      }),
    cancel: () => {
      if (recorder.state !== "inactive") recorder.stop();
      release();
    },
  };
}
