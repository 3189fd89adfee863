// voicebin view page: draws the waveform from precomputed peaks and keeps it in step with the
// player, and starts where the address says (#t=65, #t=1:05 or #t=0:01:05, media-fragment
// style: a search hit in what was said links there). No inline script (the page's CSP forbids
// it); no dependencies.
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
  // #t=SECONDS, #t=M:SS or #t=H:MM:SS (an end after a comma is ignored); null otherwise.
  function fragmentTime() {
    var match = /(?:^#|&)t=(?:npt:)?([0-9][0-9:.]*)/.exec(location.hash);
    if (!match) return null;
    var parts = match[1].split(":");
    if (parts.length > 3) return null;
    var seconds = 0;
    for (var i = 0; i < parts.length; i++) {
      if (!/^[0-9]+(\.[0-9]+)?$/.test(parts[i])) return null;
      seconds = seconds * 60 + Number(parts[i]);
    }
    return isFinite(seconds) ? seconds : null;
  }
  // Where to start once the audio's length is known (nothing is preloaded before a play).
  var pendingTime = null;
  function seekToFragment() {
    var at = fragmentTime();
    if (at === null) return;
    if (audio.readyState >= 1 && duration()) {
      audio.currentTime = Math.min(at, duration());
    } else {
      pendingTime = at;
    }
  }
  audio.addEventListener("loadedmetadata", function () {
    if (pendingTime !== null && duration()) {
      audio.currentTime = Math.min(pendingTime, duration());
      pendingTime = null;
    } else if (pendingSeek !== null && duration()) {
      audio.currentTime = pendingSeek * duration();
    }
    pendingSeek = null;
  });
  window.addEventListener("hashchange", seekToFragment);
  seekToFragment();
  ["timeupdate", "seeked", "loadedmetadata", "play", "pause"].forEach(function (name) {
    audio.addEventListener(name, draw);
  });
  window.addEventListener("resize", draw);
  canvas.setAttribute("data-ready", "true");
  draw();
})();
