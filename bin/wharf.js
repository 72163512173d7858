#!/usr/bin/env node
// Command-line entry. Installed from the registry (no src/ in the package) it runs the compiled dist/cli/main.js;
// in a checkout it runs the TypeScript sources through tsx, so `npm start` and the tests need no build step.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import("../dist/cli/main.js");
}
