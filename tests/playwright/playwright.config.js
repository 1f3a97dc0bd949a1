// Playwright Test as a team would point it at production: the base URL from BASE_URL, and
// (so that it runs here with no browser download) the system Chromium from SMOKESEAL_BROWSER
// with the flags that keep it quiet on a closed network.
const { defineConfig } = require("@playwright/test");

module.exports = defineConfig({
  testDir: ".",
  testMatch: "*.spec.js",
  use: {
    baseURL: process.env.BASE_URL,
    launchOptions: {
      executablePath: process.env.SMOKESEAL_BROWSER,
      args: [
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
      ],
    },
  },
});
