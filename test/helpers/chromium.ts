// Debian's /usr/bin/chromium, headless, through playwright-core (browsers cannot be downloaded here). One browser
// per test process, started by the first test that asks and closed after the process's last test; each test gets a
// fresh browser context (its own cookies, storage and cache, as a new profile would be), closed in `t.after`.
// Why one browser: a launch and close costs ~0.85 s of CPU beyond the test's own work (Chromium's processes), and
// the browser tests share a process (test/shards/integration.json, group transports-b).
import { after } from "node:test";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let browser: Promise<Browser> | undefined;

// A top-level hook of the test process's root test: it runs after every test file of the process has finished.
after(async () => {
  const started = browser;
  browser = undefined;
  // A launch that failed has failed its test already.
  await (await started?.catch(() => undefined))?.close();
});

export async function launchChromium(t: { after(fn: () => Promise<void>): void }): Promise<BrowserContext> {
  browser ??= chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ARGS });
  const context = await (await browser).newContext();
  t.after(() => context.close());
  return context;
}
