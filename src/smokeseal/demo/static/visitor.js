// Says whether this browser has been here before, then leaves a mark of every kind.
(async () => {
  const marks = [];
  if (document.cookie.includes("seen=1")) marks.push("cookie");
  if (localStorage.getItem("seen")) marks.push("localStorage");
  if (sessionStorage.getItem("seen")) marks.push("sessionStorage");
  const cache = await caches.open("visitor");
  if (await cache.match("/visitor-mark")) marks.push("cacheStorage");
  document.getElementById("visitor").textContent =
    marks.length ? `returning: ${marks.join(",")}` : "fresh visitor";
  document.cookie = "seen=1; path=/; max-age=3600";
  localStorage.setItem("seen", "1");
  sessionStorage.setItem("seen", "1");
  await cache.put("/visitor-mark", new Response("seen"));
})();
