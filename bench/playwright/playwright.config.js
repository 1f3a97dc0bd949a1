// Playwright Test as a team would run it against production: its defaults, pointed at the
// same system Chromium (with the same closed-network flags) and the same base URL.
const { defineConfig } = require("@playwright/test");

module.exports = defineConfig({
  testDir: ".",
  reporter: "line",
  use: {
    baseURL: process.env.BASE_URL,
    launchOptions: {
      executablePath: process.env.SMOKESEAL_BROWSER,
      args: [
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--no-default-browser-check",
        "--disable-dev-shm-usage",
      ],
    },
  },
});
