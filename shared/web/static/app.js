// incident: progressive enhancement only; every page reads and every form posts without it.
(function () {
  "use strict";
  // Times: shown in the viewer's time zone, UTC on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.dataset.local) return;
      var iso = t.getAttribute("datetime");
      var d = new Date(iso);
      if (isNaN(d.getTime())) return;
      t.title = d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
      t.textContent = d.toLocaleString();
      t.dataset.local = "1";
    });
  }
  // Live regions: an element with data-live="<event stream>" refreshes every descendant
  // with data-refresh="<fragment URL>" when the stream says something changed.
  var source = null;
  function live(root) {
    var page = root.querySelector ? root.querySelector("[data-live]") : null;
    if (!page && root.matches && root.matches("[data-live]")) page = root;
    if (source) { source.close(); source = null; }
    if (!page) return;
    source = new EventSource(page.dataset.live);
    function refresh(region) {
      // Each region is its own request source, so htmx queues one refresh per region
      // (the latest wins) instead of one refresh for the whole page.
      htmx.ajax("GET", region.dataset.refresh, { source: region, target: region, swap: "innerHTML" });
    }
    page.querySelectorAll("[data-refresh]").forEach(function (region) {
      // Someone working a control in the region is not interrupted: the refresh waits
      // until the focus leaves it.
      region.addEventListener("focusout", function (e) {
        if (region.dataset.stale && !region.contains(e.relatedTarget)) {
          delete region.dataset.stale;
          refresh(region);
        }
      });
    });
    source.addEventListener("changed", function () {
      page.querySelectorAll("[data-refresh]").forEach(function (region) {
        if (region.contains(document.activeElement) && document.activeElement !== region) {
          region.dataset.stale = "1";
          return;
        }
        refresh(region);
      });
    });
  }
  // Values to copy (a webhook URL, a secret shown once): a click selects all of it.
  document.addEventListener("focusin", function (e) {
    if (e.target.matches && e.target.matches("input[data-copyable]")) e.target.select();
  });
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    live(document);
    if (window.htmx) {
      htmx.onLoad(function (el) { localTimes(el); });
      document.body.addEventListener("htmx:afterSwap", function (e) {
        if (e.detail.target === document.body) live(document);
      });
    }
  });
  window.addEventListener("pagehide", function () { if (source) source.close(); });
})();
