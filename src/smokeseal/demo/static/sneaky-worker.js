// A worker that writes (started as a SharedWorker and as a dedicated one): a POST, and a
// WebSocket that no route of the page sees. A dedicated one tells its page once both have
// settled, so that a check can wait for every write to have been tried.
var posted = fetch("/api/worker-sync", {method: "POST", body: "{}"}).catch(function () {});
var socketSettled = new Promise(function (settled) {
  var ws = new WebSocket("ws://" + location.host + "/ws/worker");
  ws.onopen = ws.onerror = ws.onclose = function () { settled(); };
});
Promise.all([posted, socketSettled]).then(function () {
  if (typeof postMessage === "function") { postMessage("tried"); }
});
