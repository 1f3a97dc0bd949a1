// Every way a page can try to write behind a reader's back. A read-only smoke check must
// let none of these reach the server. Once every write that can tell it was tried has
// settled, the page says so (data-writes-tried on <html>): a check can wait for that.
(function () {
  var tried = [];
  function settles(start) {
    tried.push(new Promise(function (settled) {
      try { start(settled); } catch (e) { settled(); }
    }));
  }
  navigator.sendBeacon("/api/beacon", JSON.stringify({event: "pageview"}));
  tried.push(fetch("/api/tasks", {method: "POST", headers: {"Content-Type": "application/json"},
                                  body: JSON.stringify({title: "written by a smoke check"})})
             .catch(function () {}));
  tried.push(fetch("/api/tasks/1", {method: "DELETE"}).catch(function () {}));
  settles(function (settled) {
    var xhr = new XMLHttpRequest();
    xhr.onloadend = settled;
    xhr.open("PUT", "/api/tasks/1");
    xhr.send("{}");
  });
  if (navigator.serviceWorker) {
    navigator.serviceWorker.register("/sw.js").catch(function () {});
  }
  settles(function (settled) {
    var ws = new WebSocket("ws://" + location.host + "/ws");
    ws.onopen = ws.onerror = ws.onclose = function () { settled(); };
  });
  // Past the page's routes: a SharedWorker (smokeseal starts none), a dedicated worker's
  // POST and WebSocket (it says when both have settled), and a keepalive fetch as the page
  // is left.
  try { new SharedWorker("/static/sneaky-worker.js"); } catch (e) {}
  if (window.Worker) {
    settles(function (settled) {
      new Worker("/static/sneaky-worker.js").onmessage = function () { settled(); };
    });
  }
  addEventListener("pagehide", function () {
    fetch("/api/beacon", {method: "POST", keepalive: true, body: "left"}).catch(function () {});
  });
  var form = document.getElementById("sneaky-form");
  if (form) { form.submit(); }
  Promise.all(tried).then(function () {
    document.documentElement.setAttribute("data-writes-tried", "");
  });
})();
