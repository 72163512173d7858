// `tsc -p .` for the package test's TypeScript consumer (test/integration/package/pack.test.ts), run as a child for
// the consumer's directory (its argument; the child starts in the repository, where `--import tsx` resolves when the
// tests run through tsx): the same program (its tsconfig.json, the repository's TypeScript), the same diagnostics and
// emit, the program's files listed first as `--listFiles` does; but the semantic check skips the declarations of
// DefinitelyTyped (node_modules/@types/) and of undici-types, which @types/node references. Why: with skipLibCheck
// off, tsc checked all of @types/node for the two TypeScript examples (1.5 of the 2.2 s of checking in a trace,
// against 0.45 s for the package's 306 declaration files): 3.9-4.4 s of CPU for tsc against 2.7-3.6 s for this
// (3 runs each, load 5-8, 2026-12-07). skipLibCheck on would skip the package's own declarations too, which are what
// the test is about. Every other file is checked in full: the examples, bad.ts, bad-declarations.d.ts and each
// published .d.ts; an error they make through a type of @types/node is theirs and still reported.
// Exits 1 when there is an error (tsc exits 2; the test only asks for non-zero).
import { createRequire } from "node:module";
import { sep } from "node:path";
import type * as TypeScript from "typescript";

// require(), not import: see scripts/typescript.mjs (an ESM import of typescript.js costs ~0.5 s of CPU more).
const ts = createRequire(import.meta.url)("typescript") as typeof TypeScript;

const project = process.argv[2];
if (project === undefined) throw new Error("usage: consumer-typecheck <project directory>");
process.chdir(project);
const thirdParty = [`${sep}node_modules${sep}@types${sep}`, `${sep}node_modules${sep}undici-types${sep}`];

const parsed = ts.getParsedCommandLineOfConfigFile(
  "tsconfig.json",
  {},
  {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  },
);
if (parsed === undefined) throw new Error("no tsconfig.json");
const program = ts.createProgram({
  rootNames: parsed.fileNames,
  options: parsed.options,
  configFileParsingDiagnostics: parsed.errors,
});
for (const file of program.getSourceFiles()) console.log(file.fileName);
// TypeScript's own lib files are left to the tsconfig's skipDefaultLibCheck, as tsc leaves them.
const checked = program.getSourceFiles().filter((f) => !thirdParty.some((p) => f.fileName.includes(p)));
const diagnostics = [
  ...program.getConfigFileParsingDiagnostics(),
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...program.getSyntacticDiagnostics(),
  ...checked.flatMap((f) => program.getSemanticDiagnostics(f)),
  // File by file: emit() without a file first checks every file of the program, @types/node's included.
  ...checked
    .filter((f) => !f.isDeclarationFile && !program.isSourceFileFromExternalLibrary(f))
    .flatMap((f) => program.emit(f).diagnostics),
];
const host: TypeScript.FormatDiagnosticsHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => process.cwd(),
  getNewLine: () => "\n",
};
process.stdout.write(ts.formatDiagnostics(diagnostics, host));
process.exitCode = diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error) ? 1 : 0;
