// How a test runs a TypeScript file of this repository in a child Node process (a crash child, a cluster node).
// `npm test` runs the tests compiled into .build/ (scripts/test-build.mjs) and sets WHARF_TEST_COMPILED=1: the
// child then runs the compiled file of the same source, as the test itself does (a child through tsx costs about
// 1 s of CPU more per start). Otherwise (`npm run test:only`, a test file run by hand) it runs the source
// through tsx.
import { join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** True when this process runs the compiled tests of `npm test`. */
export const compiledTests = process.env["WHARF_TEST_COMPILED"] === "1";

/** The module a child should load for `tsFile` (an absolute path of a .ts file in this repository). */
export function childModule(tsFile: string): string {
  if (!compiledTests) return tsFile;
  const rel = relative(root, tsFile);
  if (rel.startsWith("..") || rel.startsWith(sep) || !rel.endsWith(".ts")) {
    throw new Error(`${tsFile} is not a TypeScript file of this repository`);
  }
  return join(root, ".build", rel.replace(/\.ts$/, ".js"));
}

/** Node arguments that run `tsFile`: `[--enable-source-maps, <compiled .js>]` or `[--import, tsx, <file.ts>]`. */
export function nodeArgsFor(tsFile: string): string[] {
  return compiledTests ? ["--enable-source-maps", childModule(tsFile)] : ["--import", "tsx", tsFile];
}

/** Node arguments for a child that runs inline ESM code importing TypeScript modules through childModuleUrl(). */
export function nodeArgsForInline(): string[] {
  return compiledTests ? ["--enable-source-maps"] : ["--import", "tsx"];
}

/** A file URL of the module to import for `tsFile` from a child's inline code (see nodeArgsForInline()). */
export function childModuleUrl(tsFile: string): string {
  return pathToFileURL(childModule(tsFile)).href;
}
