// Debian's /usr/bin/chromium, headless, through playwright-core (browsers cannot be downloaded here), with a fresh
// profile directory per test; the browser is closed and the profile removed in `t.after`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(t: { after(fn: () => Promise<void>): void }): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), "wharf-chromium-"));
  // launchPersistentContext is how playwright takes --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ARGS,
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}
