// voicebin view page: the transcript under the player. Clicking a segment plays from where it
// was said; the segment being played is highlighted (and marked aria-current). No inline
// script, no dependencies.
(function () {
  "use strict";
  var audio = document.getElementById("player");
  var list = document.querySelector("#transcript ol");
  if (!audio || !list) return;
  var buttons = Array.prototype.slice.call(list.querySelectorAll("button[data-start-ms]"));
  var segments = buttons.map(function (button) {
    return {
      button: button,
      start: Number(button.getAttribute("data-start-ms")) / 1000,
      end: Number(button.getAttribute("data-end-ms")) / 1000
    };
  });
  var current = null;

  function highlight() {
    var t = audio.currentTime;
    var found = null;
    for (var i = 0; i < segments.length; i++) {
      if (t >= segments[i].start && (t < segments[i].end || (i + 1 < segments.length && t < segments[i + 1].start))) {
        found = segments[i];
      }
    }
    if (found === current) return;
    if (current) {
      current.button.classList.remove("playing");
      current.button.removeAttribute("aria-current");
    }
    current = found;
    if (current) {
      current.button.classList.add("playing");
      current.button.setAttribute("aria-current", "true");
    }
  }

  var pending = null;
  function seek(seconds) {
    if (audio.readyState >= 1) {
      audio.currentTime = seconds;
      if (audio.paused) audio.play();
      return;
    }
    // Nothing is preloaded (viewing the page is not a download): start, then seek.
    pending = seconds;
    audio.play();
  }
  audio.addEventListener("loadedmetadata", function () {
    if (pending !== null) {
      audio.currentTime = pending;
      pending = null;
    }
  });
  segments.forEach(function (segment) {
    segment.button.addEventListener("click", function () { seek(segment.start); });
  });
  ["timeupdate", "seeked"].forEach(function (name) { audio.addEventListener(name, highlight); });
  list.setAttribute("data-ready", "true");
})();
