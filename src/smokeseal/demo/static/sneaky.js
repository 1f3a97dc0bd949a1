// Every way a page can try to write behind a reader's back. A read-only smoke check must
// let none of these reach the server.
(function () {
  navigator.sendBeacon("/api/beacon", JSON.stringify({event: "pageview"}));
  fetch("/api/tasks", {method: "POST", headers: {"Content-Type": "application/json"},
                       body: JSON.stringify({title: "written by a smoke check"})}).catch(function () {});
  fetch("/api/tasks/1", {method: "DELETE"}).catch(function () {});
  var xhr = new XMLHttpRequest();
  xhr.open("PUT", "/api/tasks/1");
  xhr.send("{}");
  if (navigator.serviceWorker) {
    navigator.serviceWorker.register("/sw.js").catch(function () {});
  }
  try { new WebSocket("ws://" + location.host + "/ws"); } catch (e) {}
  // Past the page's routes: a SharedWorker (smokeseal starts none), a dedicated worker's
  // POST and WebSocket, and a keepalive fetch as the page is left.
  try { new SharedWorker("/static/sneaky-worker.js"); } catch (e) {}
  if (window.Worker) { new Worker("/static/sneaky-worker.js"); }
  addEventListener("pagehide", function () {
    fetch("/api/beacon", {method: "POST", keepalive: true, body: "left"}).catch(function () {});
  });
  var form = document.getElementById("sneaky-form");
  if (form) { form.submit(); }
})();
