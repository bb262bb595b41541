// Drives the console (/admin/console) in Debian's Chromium through its main flows, checks every page with axe-core,
// screenshots each page at 1280 px and at phone width, and measures page weight and time to interactive:
//   node console.mjs <apiUrl> '<plan JSON>'
// plan: {token, outDir, email, profileId, template, segment: {id, rule, badRule}, pages: [[name, path]], repeats}
// Prints one JSON line {signIn, pages: {name: {...}}, flows: {...}, console: [...]} for test_console_browser.py.
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const [apiUrl, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);
const BASE = `${apiUrl}/admin/console`;
const report = { signIn: null, pages: {}, flows: {}, console: [] };
mkdirSync(plan.outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

// What the browser itself measured for the last navigation: bytes of the document and every subresource (the
// iframes' documents included), interactive (DOM ready for input) and load, and the server's time to first byte.
function timing() {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const bytes = nav.encodedBodySize + resources.reduce((sum, r) => sum + (r.encodedBodySize || 0), 0);
  return {
    bytes,
    requests: 1 + resources.length,
    interactiveMs: Math.round(nav.domInteractive),
    loadMs: Math.round(nav.loadEventEnd),
    serverMs: Math.round(nav.responseStart - nav.requestStart),
  };
}

async function axe(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "best-practice"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

try {
  // bypassCSP: the pages allow scripts from their own origin only, and axe-core is injected by this test.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  let dialogs = 0;
  page.on("dialog", async (dialog) => { dialogs += 1; await dialog.dismiss(); }); // an alert() = escaping failed
  // A refused request is logged by Chromium as "Failed to load resource"; the flows below provoke some on purpose
  // (the sign-in page's 401, a bad rule's 400) and check each status themselves. Any other error is a script error.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) report.console.push(`error: ${m.text()}`);
  });
  page.on("pageerror", (e) => report.console.push(`pageerror: ${e.message}`));

  // Sign in: a page opened without a session is the sign-in form, and signing in comes back to that page.
  const first = await page.goto(`${BASE}/segments`);
  await page.getByLabel("Admin token").fill(plan.token);
  await Promise.all([page.waitForURL(`${BASE}/segments`), page.getByRole("button", { name: "Sign in" }).click()]);
  report.signIn = { firstStatus: first.status(), landedOn: new URL(page.url()).pathname };

  // Every page: status, axe, screenshots at both widths, weight and timing (first load), server p95 over repeats.
  async function measure(name, path) {
    const response = await page.goto(`${BASE}${path}`, { waitUntil: "load" });
    const measured = await page.evaluate(timing);
    const violations = await axe(page);
    await page.screenshot({ path: `${plan.outDir}/${name}-1280.png`, fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) report.console.push(`${name}: wider than 375 px: ${await page.evaluate(() => [...document.querySelectorAll("main *")].filter((e) => e.getBoundingClientRect().right > window.innerWidth).map((e) => e.tagName + "#" + e.id + "." + e.className).slice(0, 8).join(" "))}`);
    await page.screenshot({ path: `${plan.outDir}/${name}-375.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    const server = [measured.serverMs];
    for (let i = 1; i < (plan.repeats || 1); i++) {
      await page.reload({ waitUntil: "load" });
      server.push((await page.evaluate(timing)).serverMs);
    }
    report.pages[name] = { status: response.status(), ...measured, serverP95Ms: percentile(server, 95), violations, phoneOverflowPx: overflow };
  }
  for (const [name, path] of plan.pages) await measure(name, path);

  // The period of the daily charts, by keyboard: type the days into the native date inputs, Enter submits.
  await page.goto(BASE);
  await page.getByLabel("From", { exact: true }).focus();
  await page.keyboard.type("01022026");
  await page.getByLabel("To", { exact: true }).fill("2026-02-10");
  await Promise.all([page.waitForURL(/from=/), page.getByLabel("To", { exact: true }).press("Enter")]);
  const period = new URL(page.url()).searchParams;
  report.flows.period = { from: period.get("from"), to: period.get("to"), heading: await page.textContent("#trend-h") };

  // Schedule and cancel a broadcast: a draft from a segment, a test to oneself, a launch day and time, cancelled.
  await page.goto(`${BASE}/broadcasts/new`);
  await page.getByLabel("Name", { exact: true }).fill(`Spring ${plan.hostile}`);
  await page.getByLabel("Template", { exact: true }).selectOption(plan.broadcast.template);
  await page.getByLabel("A segment", { exact: true }).check();
  await page.getByLabel('Segment (when "a segment")').selectOption(plan.broadcast.segment);
  await page.getByRole("button", { name: "Save draft" }).click();
  await page.waitForURL(/\/broadcasts\/b[0-9a-f]+$/, { timeout: 10000 }).catch(async (error) => {
    throw new Error(`the draft was not saved: ${await page.locator("[data-result]").textContent()} (${error.message})`);
  });
  const broadcastPath = new URL(page.url()).pathname;
  const statusOf = async () => (await page.textContent("[data-broadcast-status]")).trim();
  const drafted = await statusOf();
  // A form with data-reload reloads the page on success; a refusal stays and says why.
  async function clickAndReload(name) {
    const before = await statusOf();
    await page.getByRole("button", { name }).click();
    await page.waitForFunction((was) => {
      const refused = [...document.querySelectorAll("[data-result].bad")].map((r) => r.textContent).join(" ");
      const now = document.querySelector("[data-broadcast-status]");
      return refused || (now && now.textContent.trim() !== was);
    }, before, { timeout: 10000 });
    const refused = await page.locator("[data-result].bad").allTextContents();
    if (refused.length) throw new Error(`${name}: ${refused.join(" ")}`);
    await page.waitForLoadState("load");
  }
  await page.getByLabel("To (addresses or numbers, comma separated)").fill("me@example.com");
  await page.getByRole("button", { name: "Send test" }).click();
  await page.waitForFunction(() => [...document.querySelectorAll("[data-result]")].some((r) => /^(Test sent|\d{3}:)/.test(r.textContent)));
  const tested = await page.locator("form[data-body=test] [data-result]").textContent();
  await page.getByLabel("Day (UTC)").fill(plan.broadcast.day);
  await page.getByLabel("Time (UTC, 24 h)").fill("09:30");
  await clickAndReload("Schedule");
  const scheduled = await statusOf();
  const launch = await page.textContent("main > p");
  await measure("broadcast", broadcastPath.replace("/admin/console", ""));
  await clickAndReload("Cancel broadcast");
  const cancelled = await statusOf();
  await page.screenshot({ path: `${plan.outDir}/broadcast-cancelled-1280.png`, fullPage: true });
  await page.goto(`${BASE}/broadcasts`);
  report.flows.broadcast = {
    drafted, tested, scheduled, launch, cancelled, dialogs,
    listed: await page.textContent("[data-broadcasts]"),
    buttonsLeft: await page.goto(`${BASE}${broadcastPath}`).then(() => page.locator("main button").allTextContents()),
  };

  // Start an import by upload and follow it: progress to finished, rejected rows with their line numbers.
  await page.goto(`${BASE}/imports`);
  await page.getByLabel("Kind", { exact: true }).selectOption("people");
  await page.getByLabel("Format", { exact: true }).selectOption("csv");
  await page.getByLabel("File", { exact: true }).setInputFiles({ name: "people.csv", mimeType: "text/csv", buffer: Buffer.from(plan.importCsv) });
  await Promise.all([page.waitForURL(/\/imports\/[^/]+$/), page.getByRole("button", { name: "Upload and import" }).click()]);
  const importPath = new URL(page.url()).pathname;
  let importStatus = "";
  const importDeadline = Date.now() + (plan.waitMs || 20000);
  while (Date.now() < importDeadline) {
    await page.goto(`${BASE}${importPath.replace("/admin/console", "")}`);
    importStatus = (await page.textContent("[data-import-status]")).trim();
    if (importStatus === "finished") break;
    await new Promise((r) => setTimeout(r, 300));
  }
  await measure("import", importPath.replace("/admin/console", ""));
  report.flows.import = {
    status: importStatus,
    accepted: Number((await page.textContent("[data-accepted]")).replace(/,/g, "")),
    rejectedLines: await page.locator("[data-rejected-rows] tbody th").allTextContents(),
    hostileShownAsText: (await page.textContent("main")).includes(plan.hostile),
    dialogs,
  };

  // A session that ends mid-edit: the edit is kept, the sign-in page comes back to it, and it saves.
  await page.goto(`${BASE}/segments`);
  await page.getByLabel("Id (letters, digits, underscores)").fill(`${plan.segment.id}_kept`);
  await page.getByLabel("Description").fill("typed before the session ended");
  await page.getByLabel("Rule (JSON)").fill(JSON.stringify(plan.segment.rule));
  await context.clearCookies();
  await Promise.all([page.waitForURL(/sign-in/), page.getByRole("button", { name: "Save segment" }).click()]);
  const expiredNotice = await page.textContent("main");
  await page.getByLabel("Admin token").fill(plan.token);
  await Promise.all([page.waitForURL(`${BASE}/segments`), page.getByRole("button", { name: "Sign in" }).click()]);
  const kept = {
    id: await page.getByLabel("Id (letters, digits, underscores)").inputValue(),
    description: await page.getByLabel("Description").inputValue(),
    note: await page.locator("#new-h ~ form [data-result]").textContent(),
  };
  await page.getByRole("button", { name: "Save segment" }).click();
  await page.waitForFunction(() => /^(Saved|\d{3}:)/.test(document.querySelector("#new-h ~ form [data-result]").textContent));
  report.flows.sessionEnded = { expiredNotice: expiredNotice.includes("edit you were making is kept"), kept, saved: await page.locator("#new-h ~ form [data-result]").textContent() };

  // Keyboard: the skip link is the first stop and moves focus to the content.
  await page.goto(BASE);
  await page.keyboard.press("Tab");
  const firstStop = await page.evaluate(() => document.activeElement.textContent.trim());
  await page.keyboard.press("Enter");
  report.flows.keyboard = { firstStop, focusedAfter: await page.evaluate(() => document.activeElement.id) };

  // Find a person by email; the trait holding HTML must read as text.
  await page.goto(`${BASE}/profiles`);
  await page.getByLabel("Profile id, email, user id or anonymous id").fill(plan.email);
  await Promise.all([page.waitForURL(/\/profiles\/p_/), page.keyboard.press("Enter")]);
  const body = await page.textContent("main");
  report.flows.findPerson = {
    path: new URL(page.url()).pathname,
    hostileShownAsText: body.includes("<script>alert(1)</script>"),
    dialogs,
  };

  // Build a segment: a bad rule is refused naming the field; a good one is saved and its members counted.
  await page.goto(`${BASE}/segments`);
  await page.getByLabel("Id (letters, digits, underscores)").fill(plan.segment.id);
  await page.getByLabel("Description").fill("built by the console e2e test");
  const rule = page.getByLabel("Rule (JSON)");
  const result = page.locator("#new-h ~ form [data-result]");
  await rule.fill(JSON.stringify(plan.segment.badRule));
  await page.getByRole("button", { name: "Save segment" }).click();
  await page.waitForFunction(() => /^\d{3}:/.test(document.querySelector("#new-h ~ form [data-result]").textContent));
  const refused = await result.textContent();
  await rule.fill("{not json");
  await page.getByRole("button", { name: "Save segment" }).click();
  const notJson = await result.textContent();
  await rule.fill(JSON.stringify(plan.segment.rule));
  await page.getByRole("button", { name: "Save segment" }).click();
  await page.waitForFunction(() => document.querySelector("#new-h ~ form [data-result]").textContent.startsWith("Saved"));
  const saved = await result.textContent();
  let size = 0;
  const deadline = Date.now() + (plan.waitMs || 20000);
  while (Date.now() < deadline) {
    await page.goto(`${BASE}/segments/${plan.segment.id}`);
    // A page answered while moto is slow (a 503 page) has no size: look again until the deadline, not only once.
    size = Number(await page.textContent("[data-segment-size]", { timeout: 5000 }).catch(() => "0"));
    if (size > 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await page.screenshot({ path: `${plan.outDir}/segment-built-1280.png`, fullPage: true });
  report.flows.buildSegment = { refused, notJson, saved, size };

  // Preview a template for the person, at desktop and phone width.
  await page.goto(`${BASE}/templates`);
  await page.getByLabel("Template").selectOption(plan.template);
  await page.getByLabel("Profile id").fill(plan.profileId);
  await Promise.all([page.waitForURL(/template=/), page.getByRole("button", { name: "Preview" }).click()]);
  const phone = page.frameLocator("iframe.phone");
  const frameText = await phone.locator("body").textContent();
  const frameWidth = await page.locator("iframe.phone").evaluate((f) => f.getBoundingClientRect().width);
  await page.screenshot({ path: `${plan.outDir}/template-preview-1280.png`, fullPage: true });
  report.flows.previewTemplate = { subject: await page.textContent("[data-preview=subject]"), frameText: frameText.slice(0, 400), frameWidth };

  // Replay the day's failed events.
  await page.goto(`${BASE}/failed-events`);
  await page.getByRole("button", { name: /^Replay/ }).click();
  const replay = page.locator("#replay-h ~ form [data-result]");
  await page.waitForFunction(() => !["", "Working…"].includes(document.querySelector("#replay-h ~ form [data-result]").textContent));
  report.flows.replay = { result: await replay.textContent() };
  await page.screenshot({ path: `${plan.outDir}/failed-events-replayed-1280.png`, fullPage: true });

  // Signing out ends the session: the next page is the sign-in form again.
  await page.goto(BASE);
  await page.getByRole("button", { name: "Sign out" }).click();
  const after = await page.goto(`${BASE}/profiles`);
  report.flows.signOut = { status: after.status() };

  // A viewer: reads pages, the forms that change things are disabled and say why, a writing page is a 403 page.
  await page.getByLabel("Admin token").fill(plan.token);
  await page.getByLabel(/^Role for this session/).selectOption("viewer");
  await Promise.all([page.waitForURL(`${BASE}/profiles`), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.goto(`${BASE}/failed-events`);
  const replayButton = page.getByRole("button", { name: /^Replay/ });
  const replayDisabled = (await replayButton.count()) === 0 || (await replayButton.isDisabled());
  await measure("forbidden", "/broadcasts/new");
  report.flows.viewer = { replayDisabled, forbidden: report.pages.forbidden.status, message: await page.textContent("main .error") };
  await context.close();
} catch (error) {
  report.console.push(`console.mjs: ${error.stack || error.message}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
