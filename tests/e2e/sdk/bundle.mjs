// Bundles the browser SDKs for tests/e2e/test_browser_sdks.py: `node bundle.mjs <outDir>` writes segment.js and
// rudderstack.js (IIFE, one global each) there. No CDN is reachable from the tests, so every byte comes from npm.
import { build } from "esbuild";

const [outdir] = process.argv.slice(2);
await build({
  entryPoints: ["browser/segment.js", "browser/rudderstack.js"],
  bundle: true,
  format: "iife",
  target: "es2020",
  outdir,
  logLevel: "warning",
});
