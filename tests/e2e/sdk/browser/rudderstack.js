// esbuild entry: RudderStack's v3 browser SDK, the `bundled` export (its plugins inside, none fetched from its CDN).
import { RudderAnalytics } from "@rudderstack/analytics-js/bundled";

window.RudderAnalytics = RudderAnalytics;
