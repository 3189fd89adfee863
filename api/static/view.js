// voicebin view page: draws the waveform from precomputed peaks and keeps it in step with the
// player. No inline script (the page's CSP forbids it); no dependencies.
(function () {
  "use strict";
  var canvas = document.getElementById("waveform");
  var audio = document.getElementById("player");
  if (!canvas || !audio) return;
  var peaks = [];
  try { peaks = JSON.parse(canvas.getAttribute("data-peaks") || "[]"); } catch (e) { peaks = []; }
  var ctx = canvas.getContext("2d");
  // A browser's own recording (MediaRecorder WebM) has no duration in its header, so the
  // element says Infinity until it has read the whole file; the scan measured it.
  var measured = Number(canvas.getAttribute("data-duration-ms")) / 1000 || 0;
  function duration() {
    return isFinite(audio.duration) && audio.duration > 0 ? audio.duration : measured;
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = Math.max(1, Math.floor(width * ratio));
    canvas.height = Math.max(1, Math.floor(height * ratio));
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!peaks.length) return;
    var played = duration() ? Math.min(1, audio.currentTime / duration()) : 0;
    var bar = width / peaks.length;
    for (var i = 0; i < peaks.length; i++) {
      var h = Math.max(1, (peaks[i] / 255) * height);
      ctx.fillStyle = (i / peaks.length) < played ? "#3b6fd8" : "#9aa7bd";
      ctx.fillRect(i * bar, (height - h) / 2, Math.max(1, bar - 1), h);
    }
  }

  var pendingSeek = null;
  canvas.addEventListener("click", function (event) {
    var rect = canvas.getBoundingClientRect();
    var fraction = (event.clientX - rect.left) / rect.width;
    if (!audio.duration || !duration()) {
      // Nothing is preloaded (so viewing the page is not a download): start playing, then seek.
      pendingSeek = fraction;
      audio.play();
      return;
    }
    audio.currentTime = fraction * duration();
  });
  audio.addEventListener("loadedmetadata", function () {
    if (pendingSeek !== null && duration()) {
      audio.currentTime = pendingSeek * duration();
      pendingSeek = null;
    }
  });
  ["timeupdate", "seeked", "loadedmetadata", "play", "pause"].forEach(function (name) {
    audio.addEventListener(name, draw);
  });
  window.addEventListener("resize", draw);
  canvas.setAttribute("data-ready", "true");
  draw();
})();
