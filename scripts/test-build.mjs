// `npm test` runs the tests as JavaScript compiled once, not through tsx in every test process.
// Why: tsx transforms, caches and resolves every module again in each process (its loader hooks run on a separate
// thread, its source maps are inlined and re-read by Node), and the suite starts a few dozen Node processes that
// each load most of src/: a unit shard cost 23.1 s of CPU through tsx and 12.9 s compiled (2026-12-06, same load).
//
// scripts/test.mjs calls emitTestBuild() before it starts the tests, beside (not after) the TypeScript program of
// scripts/checks.mjs: every TypeScript file of tsconfig.json (src/, test/, bench/, scripts/) is written to .build/
// as ES module JavaScript with a source map (failures and test locations point at the .ts lines under
// --enable-source-maps). The JavaScript comes from esbuild, one file at a time (no bundling); the typecheck in
// scripts/checks.mjs reports the type errors and fails `npm test`. Why not from that program's text, as before: the
// program takes ~4 s of CPU to create (parse, resolve; 4.2 s measured 2026-12-07 for its 634 files) before it can
// hand over a file, and the tests waited for it; the file list comes from tsconfig.json (the same 634 files the
// program holds) and only files with a computed `import()` or an `import.meta` are parsed here. Why esbuild: a
// second TypeScript emit of the ~610 files (noCheck) cost 14.7 s of CPU (printing, transforms, a second binder;
// profiled 2026-12-06), esbuild about 1.5 s. Per-file
// transpiling is exact here because tsconfig.json sets isolatedModules and verbatimModuleSyntax (what TypeScript
// itself promises a per-file transpiler can do); the options that change the output (target, class fields) are
// taken from tsconfig.json's options.
//
// What the compiled files keep from their sources, so that they behave as the sources do under tsx:
// - relative imports: `./x.ts` becomes `./x.js` (as rewriteRelativeImportExtensions does: static imports and
//   exports and literal `import()` rewritten in place, same length, so the source maps stay exact; a computed
//   `import(x)` goes through the same runtime helper TypeScript emits). A relative `.ts` specifier left in the
//   output fails the build;
// - `import.meta.url`, `.filename` and `.dirname` are the source file's, so files read next to a module (fixtures,
//   the dashboard's assets, helper scripts, package.json) are read where they are in the repository; any other use
//   of `import.meta` fails the build;
// - the few non-TypeScript modules imported with a relative specifier (e.g. scripts/import-cycles.mjs) are linked
//   into .build/ at the same relative place.
// Test helpers that start a TypeScript file in a child process run its compiled file (test/helpers/ts-child.ts).
import { existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import ts, { parseTsconfig } from "./typescript.mjs";

/** Directory of the compiled tests, relative to the repository. */
export const TEST_BUILD_DIR = ".build";

const TS_EXTENSION = /\.([cm]?)ts$/;
/** The JavaScript extension of a TypeScript one (same length: `.ts` -> `.js`, `.mts` -> `.mjs`, `.cts` -> `.cjs`). */
const jsName = (name) => name.replace(TS_EXTENSION, ".$1js");
const isRelative = (spec) => spec.startsWith("./") || spec.startsWith("../");
const rewritable = (spec) => isRelative(spec) && TS_EXTENSION.test(spec) && !/\.d\.[cm]?ts$/.test(spec);

// TypeScript's helper for a computed `import()` under rewriteRelativeImportExtensions (its emit, as a declaration
// so that it can go at the end of the file and leave every line above it where it was).
const REWRITE_HELPER = "__wharfRewriteRelativeImportExtension";
const rewriteHelperSource =
  `\nfunction ${REWRITE_HELPER}(path) {` +
  ` if (typeof path === "string" && /^\\.\\.?\\//.test(path)) {` +
  ` return path.replace(/\\.(tsx)$|((?:\\.d)?)((?:\\.[^./]+?)?)\\.([cm]?)ts$/i, function (m, tsx, d, ext, cm) {` +
  ` return tsx ? ".js" : d && (!ext || !cm) ? m : d + ext + "." + cm.toLowerCase() + "js"; }); }` +
  ` return path; }\n`;

/** esbuild's `target` for the program's ScriptTarget (ES2022 -> "es2022"). */
function esbuildTarget(options) {
  const target = options.target ?? ts.ScriptTarget.ES5;
  if (target === ts.ScriptTarget.ESNext) return "esnext";
  const name = ts.ScriptTarget[target];
  if (!/^ES20\d\d$/.test(name)) throw new Error(`scripts/test-build.mjs: unsupported target ${name}`);
  return name.toLowerCase();
}

/** The compiler options that change what a per-file transpiler emits, as esbuild's tsconfigRaw. */
function transpileOptions(options) {
  if (options.emitDecoratorMetadata) throw new Error("scripts/test-build.mjs: emitDecoratorMetadata is not supported");
  if (!options.isolatedModules && !options.verbatimModuleSyntax) {
    throw new Error("scripts/test-build.mjs compiles one file at a time: tsconfig.json must set isolatedModules");
  }
  const target = options.target ?? ts.ScriptTarget.ES5;
  return {
    compilerOptions: {
      verbatimModuleSyntax: options.verbatimModuleSyntax === true,
      // TypeScript's default: [[Define]] semantics from ES2022 on.
      useDefineForClassFields: options.useDefineForClassFields ?? target >= ts.ScriptTarget.ES2022,
      experimentalDecorators: options.experimentalDecorators === true,
    },
  };
}

/**
 * A file to compile: its name, its text, and its syntax tree parsed on first use (only files with a computed
 * `import()` or an `import.meta` in their output, or an error to report, need one).
 */
function sourceOf(fileName, text, languageVersion) {
  let tree;
  return { fileName, text, tree: () => (tree ??= ts.createSourceFile(fileName, text, languageVersion, true)) };
}

/** `line:` of `pos` in `file`, for error messages. */
const lineOf = (file, pos) => `${file.fileName}:${file.tree().getLineAndCharacterOfPosition(pos).line + 1}`;

/**
 * The source text esbuild compiles: relative `.ts` specifiers rewritten to `.js` in place, computed `import()`
 * arguments wrapped in the rewrite helper. Also returns the relative non-TypeScript modules the file imports.
 */
function prepareSource(file) {
  let text = file.text;
  const others = [];
  const info = ts.preProcessFile(text, true, true);
  const edits = [];
  for (const ref of info.importedFiles) {
    if (rewritable(ref.fileName)) {
      const at = ref.pos + 1; // ref.pos is the opening quote
      if (text.slice(at, at + ref.fileName.length) !== ref.fileName) {
        throw new Error(`${lineOf(file, ref.pos)}: cannot rewrite the import specifier ${ref.fileName} in place`);
      }
      edits.push({ at, remove: ref.fileName.length, insert: jsName(ref.fileName) });
    } else if (isRelative(ref.fileName) && !/\.[cm]?tsx?$/.test(ref.fileName)) {
      others.push(ref.fileName);
    }
  }
  // Computed dynamic imports: parse only a file with an `import(` whose argument does not start with a quote (the
  // scan above rewrote those): 3 of the 637 files, where parsing every file with an `import(` (32) cost ~0.46 s of
  // CPU (2026-12-07).
  let computed = 0;
  const dynamicImports = text.match(/\bimport\s*\(/g)?.length ?? 0;
  if (dynamicImports > (text.match(/\bimport\s*\(\s*["']/g)?.length ?? 0)) {
    const visit = (node) => {
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        if (arg !== undefined && !ts.isStringLiteralLike(arg)) {
          edits.push({ at: arg.getStart(tree), remove: 0, insert: `${REWRITE_HELPER}(` });
          edits.push({ at: arg.end, remove: 0, insert: ")" });
          computed++;
        }
      }
      ts.forEachChild(node, visit);
    };
    const tree = file.tree();
    visit(tree);
  }
  if (edits.length > 0) {
    edits.sort((a, b) => b.at - a.at); // from the end, so that earlier offsets stay valid
    for (const e of edits) text = text.slice(0, e.at) + e.insert + text.slice(e.at + e.remove);
  }
  if (computed > 0) text += rewriteHelperSource;
  return { text, others };
}

/** Throws if the compiled `code` of `file` still uses `import.meta` other than as .url, .filename or .dirname. */
function checkImportMeta(file, code) {
  if (!/\bimport\.meta\b/.test(code)) return;
  // Left in the output: either in a string or a comment (fine), or a use the build cannot keep (find it).
  const visit = (node) => {
    if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
      const parent = node.parent;
      const name = ts.isPropertyAccessExpression(parent) && parent.expression === node ? parent.name.text : "";
      if (!["url", "filename", "dirname"].includes(name)) {
        throw new Error(
          `${lineOf(file, node.getStart(tree))}: import.meta used other than as .url, .filename or .dirname; ` +
            "scripts/test-build.mjs cannot keep its meaning in the compiled tests",
        );
      }
    }
    ts.forEachChild(node, visit);
  };
  const tree = file.tree();
  visit(tree);
}

/** Throws if `code` (compiled from `file`) still imports a relative `.ts` module. */
function checkRewritten(file, code) {
  for (const ref of ts.preProcessFile(code, true, true).importedFiles) {
    if (rewritable(ref.fileName)) {
      throw new Error(`${file.fileName}: the compiled file still imports ${ref.fileName} (scripts/test-build.mjs)`);
    }
  }
}

/**
 * Writes every TypeScript file of `root`/tsconfig.json into `root/.build/` (see above). Returns esbuild's errors and
 * warnings (lines naming the .ts file), the number of files written and of non-TypeScript modules linked. A use of
 * the source the build cannot keep (see above) is an error. It uses esbuild's service and leaves it running: the
 * caller calls esbuild's stop() once (scripts/test.mjs also bundles the CLI on the same service), so that the
 * service's CPU is reaped by, and counted for, the caller's process (0.9-1.1 s for these files, 2026-12-07).
 */
export async function emitTestBuild(root) {
  const out = join(root, TEST_BUILD_DIR);
  rmSync(out, { recursive: true, force: true }); // no compiled test left over from a renamed or deleted source
  // The files and options of tsconfig.json as `tsc -p .` reads them (no program is created).
  const { fileNames, options } = parseTsconfig(join(root, "tsconfig.json"));
  const target = esbuildTarget(options);
  const tsconfigRaw = transpileOptions(options);
  const languageVersion = options.target ?? ts.ScriptTarget.ES5;
  const files = fileNames.filter(
    (f) =>
      f.startsWith(root + sep) && TS_EXTENSION.test(f) && !/\.d\.[cm]?ts$/.test(f) && !f.includes("/node_modules/"),
  );
  const linked = new Set();
  const warnings = [];
  const errors = [];
  const made = new Set();
  const mkdir = (dir) => {
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
  };
  let written = 0;
  await Promise.all(
    files.map(async (fileName) => {
      const file = sourceOf(fileName, await readFile(fileName, "utf8"), languageVersion);
      const { text, others } = prepareSource(file);
      for (const spec of others) {
        const target = join(dirname(file.fileName), spec);
        if (existsSync(target)) linked.add(target);
      }
      const outFile = join(out, jsName(relative(root, file.fileName)));
      const meta = {
        url: pathToFileURL(file.fileName).href,
        filename: file.fileName,
        dirname: dirname(file.fileName),
      };
      let result;
      try {
        result = await transform(text, {
          loader: "ts",
          format: "esm",
          target,
          charset: "utf8",
          sourcemap: "external",
          sourcesContent: false,
          sourcefile: relative(dirname(outFile), file.fileName),
          tsconfigRaw,
          define: Object.fromEntries(Object.entries(meta).map(([k, v]) => [`import.meta.${k}`, JSON.stringify(v)])),
          logLevel: "silent",
        });
      } catch (err) {
        // esbuild's errors name the file by its relative sourcefile: report them at the .ts path instead.
        const list = Array.isArray(err?.errors) ? err.errors : [{ text: String(err) }];
        for (const e of list) {
          const where = e.location ? `${file.fileName}:${e.location.line}:${e.location.column}` : file.fileName;
          errors.push(`${where}: error: ${e.text}`);
        }
        return;
      }
      for (const w of result.warnings) {
        const where = w.location ? `${file.fileName}:${w.location.line}:${w.location.column}` : file.fileName;
        warnings.push(`${where}: warning: ${w.text}`);
      }
      try {
        checkImportMeta(file, result.code);
        checkRewritten(file, result.code);
      } catch (err) {
        errors.push(err.message);
        return;
      }
      mkdir(dirname(outFile));
      // Written asynchronously (libuv's threads): the 1,268 synchronous writes took 1.1 s of this thread's 4.7 s
      // (a profile at load 12, 2026-12-07), time in which it could not hand esbuild the next files.
      await Promise.all([
        writeFile(outFile, `${result.code}//# sourceMappingURL=${basename(outFile)}.map\n`),
        writeFile(`${outFile}.map`, result.map),
      ]);
      written += 2;
    }),
  );
  // Relative imports of modules that are not compiled (.mjs, .js, .json) resolve against the compiled file: link
  // each such file of the compiled trees into .build/ at its place (scripts/ whole: tests import its modules).
  for (const target of linked) {
    const rel = relative(root, target);
    if (rel.startsWith("..")) continue;
    const link = join(out, rel);
    if (existsSync(link)) continue;
    mkdir(dirname(link));
    symlinkSync(target, link);
  }
  return { errors, warnings, written, linked: linked.size };
}
