// esbuild entry: Segment's analytics.js (the npm build of @segment/analytics-next) as the page's only global.
import { AnalyticsBrowser } from "@segment/analytics-next";

window.AnalyticsBrowser = AnalyticsBrowser;
