// The TypeScript compiler for the scripts, loaded with require(): typescript.js is one 9 MB CommonJS file, and an ESM
// `import ts from "typescript"` makes Node 20 first scan all of it for syntax (module format detection) and then
// lex it for its export names, before running it as CommonJS anyway: `node` with that import costs 0.70-0.96 s of
// CPU against 0.26-0.34 s with require() (5 runs each, 2026-12-07). Every process that loads it this way gains the
// difference once: scripts/checks.mjs (with test-build.mjs) and the unit test shard whose lint tests load
// import-cycles.mjs.
import { createRequire } from "node:module";

/** @type {typeof import("typescript")} */
const ts = createRequire(import.meta.url)("typescript");
export default ts;

/**
 * `path` (a tsconfig file) as `tsc -p` reads it: its files, options and parsing diagnostics. An unrecoverable
 * problem (no such file, unreadable JSON) throws, naming the file. scripts/checks.mjs and scripts/test-build.mjs
 * read tsconfig.json through this, so both compile the same files with the same options.
 * @param {string} path
 * @returns {import("typescript").ParsedCommandLine}
 */
export function parseTsconfig(path) {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(`${path}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
      },
    },
  );
  if (parsed === undefined) throw new Error(`${path}: not read`);
  return parsed;
}
