// The design's six-check qa-readonly suite, written as a Playwright Test spec.
const { test, expect } = require("@playwright/test");

test("home renders", async ({ page }) => {
  const response = await page.goto("/");
  expect(response.status()).toBe(200);
  await expect(page.locator("main").first()).toBeVisible();
});

test("signin renders", async ({ page }) => {
  const response = await page.goto("/signin");
  expect(response.ok()).toBeTruthy();
  await expect(page.locator("form").first()).toBeVisible();
});

test("tasks render", async ({ page }) => {
  const response = await page.goto("/tasks");
  expect(response.ok()).toBeTruthy();
  await expect(page.locator("[data-test=tasks]").first()).toBeVisible();
});

test("up", async ({ request }) => {
  expect((await request.get("/up")).status()).toBe(200);
});

test("devops hidden", async ({ request }) => {
  expect((await request.get("/devops")).status()).toBe(404);
});

test("cycle hidden", async ({ request }) => {
  expect((await request.get("/devops/cycle")).status()).toBe(404);
});
