// A worker that writes (started as a SharedWorker and as a dedicated one): a POST, and a
// WebSocket that no route of the page sees.
fetch("/api/worker-sync", {method: "POST", body: "{}"}).catch(function () {});
new WebSocket("ws://" + location.host + "/ws/worker");
