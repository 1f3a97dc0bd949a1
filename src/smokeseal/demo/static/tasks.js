// Renders the task list from the JSON API, the way a real front end would.
(async function () {
  const broken = new URL(document.currentScript.src).searchParams.has("broken");
  const response = await fetch("/api/tasks");
  const tasks = await response.json();
  if (broken) {
    // The fault a bad release ships: a renamed field, read as if it were still there.
    tasks.items.forEach(function (task) { return task; });
  }
  const list = document.createElement("ul");
  list.setAttribute("data-test", "tasks");
  for (const task of tasks) {
    const item = document.createElement("li");
    item.textContent = task.title;
    list.appendChild(item);
  }
  document.getElementById("loading").replaceWith(list);
})();
