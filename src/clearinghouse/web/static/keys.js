// Progressive enhancement only: every page reads and works without it.
// 1. Keyboard navigation of tables marked data-keynav: j/k move, Enter opens, "/" focuses the search box.
// 2. Each <time datetime> also shows the viewer's own zone; elements with data-countdown count down to it.
(function () {
  "use strict";
  var selected = -1;
  function rows() { var t = document.querySelector("table[data-keynav] tbody"); return t ? Array.prototype.slice.call(t.rows) : []; }
  function select(index) {
    var all = rows(); if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === selected); row.removeAttribute("tabindex"); });
    all[selected].setAttribute("tabindex", "-1"); all[selected].focus();
  }
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "j") { select(selected + 1); event.preventDefault(); }
    else if (event.key === "k") { select(selected - 1); event.preventDefault(); }
    else if (event.key === "Enter" && selected >= 0) { var link = rows()[selected].querySelector("a"); if (link) { link.click(); } }
    else if (event.key === "/") { var q = document.getElementById("q"); if (q) { q.focus(); event.preventDefault(); } }
  });
  document.addEventListener("htmx:afterSwap", function () { selected = -1; });
  function localTimes() {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    document.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime")); if (isNaN(at)) { return; }
      el.setAttribute("data-local", "1");
      el.insertAdjacentText("beforeend", " (" + at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) + " " + zone + ")");
    });
  }
  function countdowns() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, new Date(el.getAttribute("data-countdown")) - Date.now()) / 1000;
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60);
      el.textContent = left > 0 ? d + " d " + h + " h " + m + " min left" : "now public";
    });
  }
  function rememberZone() {
    // The server shows case embargoes in this zone too (beside UTC and the zone they were set in).
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) { document.cookie = "ch_zone=" + encodeURIComponent(zone) + "; path=/; SameSite=Lax; max-age=31536000"; }
  }
  document.addEventListener("DOMContentLoaded", function () { rememberZone(); localTimes(); countdowns(); setInterval(countdowns, 30000); });
  document.addEventListener("htmx:afterSwap", localTimes);
  // 3. Upload progress: htmx reports the request body's progress on the form that sends it.
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = event.target.querySelector ? event.target.querySelector("[data-upload-progress]") : null;
    if (bar && event.detail.lengthComputable) { bar.value = Math.round(event.detail.loaded / event.detail.total * 100); bar.textContent = bar.value + "%"; }
  });
})();
