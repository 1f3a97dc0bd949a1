// A team's existing end-to-end spec: the read-only tests are tagged @qa-readonly, so that
// `npx playwright test --grep @qa-readonly` can run against production. smokeseal's tests
// run it (tests/checks/test_command_playwright.py) against the bundled demo app.
const { test, expect } = require("@playwright/test");

test("home renders @qa-readonly", async ({ page }) => {
  const response = await page.goto("/");
  expect(response.status()).toBe(200);
  await expect(page.locator("main").first()).toBeVisible();
});

test("up answers 200 @qa-readonly", async ({ request }) => {
  expect((await request.get("/up")).status()).toBe(200);
});

test("devops hidden @qa-readonly", async ({ request }) => {
  expect((await request.get("/devops")).status()).toBe(404);
});

// Not read-only, so never part of a production run: --grep @qa-readonly leaves it out (and
// the demo app's read-only proof fails the test that ran it if it ever got in).
test("adds a task @writes", async ({ request }) => {
  await request.post("/api/tasks", { data: { title: "from the e2e spec" } });
});

// Fails on its first try and passes on its retry: what Playwright calls flaky.
test("warms up @flaky", async ({ request }, testInfo) => {
  expect(testInfo.retry, "cold cache on the first try").toBeGreaterThan(0);
  expect((await request.get("/up")).status()).toBe(200);
});
