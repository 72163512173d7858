// `npm test` runs the tests as JavaScript compiled once, not through tsx in every test process.
// Why: tsx transforms, caches and resolves every module again in each process (its loader hooks run on a separate
// thread, its source maps are inlined and re-read by Node), and the suite starts a few dozen Node processes that
// each load most of src/: a unit shard cost 23.1 s of CPU through tsx and 12.9 s compiled (2026-12-06, same load).
//
// scripts/checks.mjs calls emitTestBuild() with the program it typechecks and lints: every file of tsconfig.json
// (src/, test/, bench/) is written to .build/ as ES module JavaScript with source maps (failures and test locations
// point at the .ts lines under --enable-source-maps), with the compiler options of the typecheck, without checking
// again (noCheck: the program's own typecheck reports the errors and fails `npm test`).
//
// What the compiled files keep from their sources, so that they behave as the sources do under tsx:
// - relative imports: `./x.ts` becomes `./x.js` (rewriteRelativeImportExtensions, computed specifiers included);
// - `import.meta.url`, `.filename` and `.dirname` are the source file's, so files read next to a module (fixtures,
//   the dashboard's assets, helper scripts, package.json) are read where they are in the repository;
// - the few non-TypeScript modules imported with a relative specifier (e.g. scripts/import-cycles.mjs) are linked
//   into .build/ at the same relative place.
// Test helpers that start a TypeScript file in a child process run its compiled file (test/helpers/ts-child.ts).
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

/** Directory of the compiled tests, relative to the repository. */
export const TEST_BUILD_DIR = ".build";

/** `import.meta.url|filename|dirname` -> the source file's values; any other use of `import.meta` fails the build. */
function sourceImportMeta(context) {
  const f = context.factory;
  return (sourceFile) => {
    const values = {
      url: pathToFileURL(sourceFile.fileName).href,
      filename: sourceFile.fileName,
      dirname: dirname(sourceFile.fileName),
    };
    const visit = (node) => {
      if (
        ts.isPropertyAccessExpression(node) &&
        ts.isMetaProperty(node.expression) &&
        node.expression.keywordToken === ts.SyntaxKind.ImportKeyword
      ) {
        const value = values[node.name.text];
        if (value !== undefined) return ts.setTextRange(f.createStringLiteral(value), node);
      }
      if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
        const { line } = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile));
        throw new Error(
          `${sourceFile.fileName}:${line + 1}: import.meta used other than as .url, .filename or .dirname; ` +
            "scripts/test-build.mjs cannot keep its meaning in the compiled tests",
        );
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitNode(sourceFile, visit);
  };
}

/**
 * Writes every file of `program` (the typecheck's program) under `root` into `root/.build/` (see above). Returns
 * the TypeScript diagnostics of the emit (none expected: the emit does not typecheck) and the number of files.
 */
export function emitTestBuild(program, root) {
  const out = join(root, TEST_BUILD_DIR);
  rmSync(out, { recursive: true, force: true }); // no compiled test left over from a renamed or deleted source
  const options = {
    ...program.getCompilerOptions(),
    noEmit: false,
    noCheck: true,
    declaration: false,
    declarationMap: false,
    sourceMap: true,
    inlineSourceMap: false,
    incremental: false,
    composite: false,
    tsBuildInfoFile: undefined,
    rootDir: root,
    outDir: out,
    rewriteRelativeImportExtensions: true,
  };
  // The same root files and options (plus emit options and noCheck): the compiler reuses the parsed files.
  const emitProgram = ts.createProgram({ rootNames: program.getRootFileNames(), options, oldProgram: program });
  let written = 0;
  const result = emitProgram.emit(
    undefined,
    (name, text) => {
      if (relative(out, name).startsWith("..")) throw new Error(`the test build wrote ${name}, outside ${out}`);
      mkdirSync(dirname(name), { recursive: true });
      writeFileSync(name, text);
      written++;
    },
    undefined,
    false,
    { before: [sourceImportMeta] },
  );
  // Relative imports of modules that are not compiled (.mjs, .js, .json) resolve against the compiled file: link
  // each such file of the compiled trees into .build/ at its place (scripts/ whole: tests import its modules).
  const linked = new Set();
  for (const file of program.getSourceFiles()) {
    if (file.isDeclarationFile || !file.fileName.startsWith(root + sep)) continue;
    for (const ref of ts.preProcessFile(file.text, true, true).importedFiles) {
      if (!ref.fileName.startsWith(".") || /\.[cm]?tsx?$/.test(ref.fileName)) continue;
      const target = join(dirname(file.fileName), ref.fileName);
      if (existsSync(target)) linked.add(target);
    }
  }
  for (const target of linked) {
    const rel = relative(root, target);
    if (rel.startsWith("..")) continue;
    const link = join(out, rel);
    if (existsSync(link)) continue;
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(target, link);
  }
  return { diagnostics: result.diagnostics, written, linked: linked.size };
}
