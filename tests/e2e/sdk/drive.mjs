// Drives a real Node SDK against the local stack: `node drive.mjs <segment|rudderstack> <apiUrl> <writeKey> <userId>`.
// Sends identify + track + page, flushes, exits 0 when the SDK reports no error (tests/e2e/test_sdks.py checks the
// events arrived).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const [sdk, host, writeKey, userId] = process.argv.slice(2);
const errors = [];

if (sdk === "segment") {
  const { Analytics } = require("@segment/analytics-node");
  const analytics = new Analytics({ writeKey, host, flushAt: 3, maxRetries: 2 });
  analytics.on("error", (err) => errors.push(String(err && (err.reason || err.message || err))));
  analytics.identify({ userId, traits: { plan: "pro" } });
  analytics.track({ userId, event: "Product Viewed", properties: { product_id: "sdk-node-1", price: 9.5 } });
  analytics.page({ userId, name: "Home" });
  await analytics.closeAndFlush({ timeout: 10000 });
} else if (sdk === "rudderstack") {
  const Analytics = require("@rudderstack/rudder-sdk-node");
  const analytics = new Analytics(writeKey, { dataPlaneUrl: host, flushAt: 3, maxRetries: 2 });
  const done = (err) => err && errors.push(String(err.message || err));
  analytics.identify({ userId, traits: { plan: "pro" } }, done);
  analytics.track({ userId, event: "Product Viewed", properties: { product_id: "sdk-node-1", price: 9.5 } }, done);
  analytics.page({ userId, name: "Home" }, done);
  await new Promise((resolve) => analytics.flush((err) => { done(err); resolve(); }));
} else {
  console.error(`unknown sdk ${sdk}`);
  process.exit(2);
}
if (errors.length) {
  console.error(errors.join("\n"));
  process.exit(1);
}
console.log("ok");
