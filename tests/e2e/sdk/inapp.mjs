// Drives the demo shop (/demo/) in Debian's Chromium for in-app messages: a product view, a reload, the banner and a
// modal rendered by inapp.js; checks roles, labels, focus, Esc, that HTML stays text, axe-core on the messages:
//   node inapp.mjs <apiUrl> '<plan JSON>'      plan: {trigger: "<event that puts the hostile modal up>"}
// Prints one JSON line for tests/e2e/test_inapp_browser.py.
import { chromium } from "playwright-core";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const [apiUrl, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const report = { dialogs: 0, console: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
});
try {
  // A desktop Chrome user agent: "HeadlessChrome" is (rightly) a bot to the API, whose events are not folded.
  const context = await browser.newContext({
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
  });
  const page = await context.newPage();
  page.on("dialog", async (dialog) => { report.dialogs += 1; await dialog.dismiss(); });
  page.on("pageerror", (error) => report.console.push(`pageerror: ${error.message}`));
  await page.goto(`${apiUrl}/demo/`, { waitUntil: "load" });
  await page.waitForFunction(() => window.one2one && typeof window.one2one.anonymousId === "function");
  report.firstVisitScripts = await page.evaluate(() => [...document.scripts].map((s) => s.src).filter(Boolean));
  await page.evaluate((trigger) => {
    window.one2one.track("Product Viewed", { product_id: "tee", name: "Tee" });
    window.one2one.track(trigger, {});
    window.one2one.flush();
  }, plan.trigger);
  let found = false;
  for (let attempt = 0; attempt < 40 && !found; attempt += 1) {
    await sleep(250);
    await page.reload({ waitUntil: "load" });
    found = await page.waitForSelector(".o2o-overlay", { timeout: 1500 }).then(() => true, () => false);
  }
  report.found = found;
  if (found) {
    await page.waitForSelector(".o2o-banner");
    report.modal = await page.evaluate(() => {
      const dialog = document.querySelector('[role="dialog"]');
      return {
        ariaModal: dialog.getAttribute("aria-modal"),
        labelledBy: document.getElementById(dialog.getAttribute("aria-labelledby"))?.textContent,
        focusInside: dialog.contains(document.activeElement),
        closeLabel: dialog.querySelector(".o2o-close").getAttribute("aria-label"),
        injectedImages: document.querySelectorAll('img[src="x"]').length,
      };
    });
    report.banner = await page.evaluate(() => {
      const banner = document.querySelector(".o2o-banner");
      return { role: banner.getAttribute("role"), text: banner.textContent, closeLabel: banner.querySelector(".o2o-close").getAttribute("aria-label") };
    });
    await page.addScriptTag({ path: AXE });
    report.violations = await page.evaluate(async () => {
      const result = await window.axe.run(".o2o-inapp", { runOnly: ["wcag2a", "wcag2aa"] });
      return result.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
    });
    await page.keyboard.press("Escape");
    report.afterEscape = await page.evaluate(() => ({
      modal: !!document.querySelector(".o2o-overlay"),
      banner: !!document.querySelector(".o2o-banner"),
    }));
    await page.click(".o2o-banner .o2o-close");
    report.afterClose = await page.evaluate(() => !!document.querySelector(".o2o-banner"));
    await page.evaluate(() => window.one2one.flush());
    await sleep(300);
    report.anonymousId = await page.evaluate(() => window.one2one.anonymousId());
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
