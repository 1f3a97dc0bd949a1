// A service worker that writes on install: blocked service workers never get this far.
self.addEventListener("install", function (event) {
  event.waitUntil(fetch("/api/sw", {method: "POST", body: "installed"}));
});
