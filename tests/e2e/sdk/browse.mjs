// Opens the test pages in one headless Chromium, side by side, and reports what the SDK on each page did:
//   node browse.mjs <apiOrigin> '<visits JSON>'     visits: [{name, url, posts, as: "visitor" | "headless"}]
// Each visit waits for its page's window.__result and for `posts` answered POSTs to the API (15 s at most). Prints one
// JSON line, {name: {result, userAgent, requests: [{method, path, status, type}], offsite: [urls], console: [...]}},
// for tests/e2e/test_browser_sdks.py to judge. `visitor` presents the browser as the desktop Chrome it is, without the
// "HeadlessChrome" token that the API rightly counts as a bot; `headless` keeps that token.
// Chromium is Debian's (CHROMIUM, default /usr/bin/chromium): Playwright's own download needs the internet.
import { chromium } from "playwright-core";

const [apiOrigin, visitsJson] = process.argv.slice(2);
const TIMEOUT_MS = 15000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()); // never keeps node alive

async function visit(browser, userAgent, { url, posts }) {
  const pageOrigin = new URL(url).origin;
  const report = { result: null, userAgent, requests: [], offsite: [], console: [] };
  const context = await browser.newContext({ userAgent }); // its own cookies and storage: a first visit
  const page = await context.newPage();
  page.on("console", (message) => report.console.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => report.console.push(`pageerror: ${error.message}`));
  page.on("requestfailed", (request) => report.console.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on("request", (request) => {
    const origin = new URL(request.url()).origin;
    if (origin !== pageOrigin && origin !== apiOrigin) report.offsite.push(request.url());
  });
  let answered = 0;
  let allAnswered;
  const done = new Promise((resolve) => (allAnswered = resolve));
  page.on("response", (response) => {
    const request = response.request();
    const { origin, pathname } = new URL(request.url());
    if (origin !== apiOrigin) return;
    report.requests.push({ method: request.method(), path: pathname, status: response.status(), type: request.resourceType() });
    if (request.method() === "POST" && ++answered >= posts) allAnswered();
  });
  try {
    await page.goto(url);
    report.result = await (await page.waitForFunction(() => window.__result, null, { timeout: TIMEOUT_MS })).jsonValue();
    await Promise.race([done, sleep(TIMEOUT_MS)]);
    await sleep(300); // a late extra request would show up in the report
  } catch (error) {
    report.console.push(`browse.mjs: ${error.message}`);
  } finally {
    await context.close();
  }
  return report;
}

// Without the background-networking flags, Chromium's own connections make it refuse the pages on this machine.
// launch() gives it a fresh temporary user-data-dir.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const probe = await browser.newPage();
  const headless = await probe.evaluate(() => navigator.userAgent);
  await probe.close();
  const agents = { headless, visitor: headless.replace("HeadlessChrome/", "Chrome/") };
  const visits = JSON.parse(visitsJson);
  const reports = await Promise.all(visits.map((v) => visit(browser, agents[v.as || "visitor"], v)));
  console.log(JSON.stringify(Object.fromEntries(visits.map((v, i) => [v.name, reports[i]]))));
} finally {
  await browser.close();
}
