// The npm package as users get it: `npm pack` (building dist/), installed from the tarball into a plain JavaScript
// project and a TypeScript project, where the examples of examples/ run, the TypeScript ones compiled and
// typechecked (strict, every published .d.ts checked too) against the published .d.ts files alone, and the `wharf`
// bin runs the CLI bundle (dist/bundle/, scripts/bundle-cli.mjs). Nothing of the repository is on the consumer's
// module path.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot, spawnWharf } from "../../helpers/spawn-wharf.ts";
import { examples, expectedOutput, installTarball, packRepo, sh, tarballFiles } from "../../helpers/pack.ts";
import { nodeArgsFor } from "../../helpers/ts-child.ts";

const work = mkdtempSync(join(tmpdir(), "wharf-pack-"));
const jsDir = join(work, "js");
/**
 * `tsc -p .` with the repository's TypeScript (a development tool, not something the package needs), except that
 * @types/node's own declarations are not checked: see the helper.
 */
const consumerTsc = nodeArgsFor(fileURLToPath(new URL("../../helpers/consumer-typecheck.ts", import.meta.url)));
const tsDir = join(work, "ts");
let tarball = "";

// Building, packing and installing: ~15 s of CPU; minutes of wall time on a loaded machine.
const slow = { timeout: 600_000 };
before(async () => {
  tarball = join(work, await packRepo(work));
  await installTarball(jsDir, tarball);
  // The TypeScript project gets the same installed tree (hard links: a second install would cost ~1 s of CPU more)
  // and is compiled with the repository's TypeScript; what it compiles against is checked below to be the installed
  // package's files only.
  await sh("cp", ["-al", jsDir, tsDir], work);
}, slow);
after(() => rmSync(work, { recursive: true, force: true }));

test("the tarball holds compiled JavaScript, declarations, the bin and docs; no TypeScript sources or tests", async () => {
  const files = await tarballFiles(tarball);
  for (const f of ["package.json", "dist/index.js", "dist/index.d.ts", "bin/wharf.js", "dist/bundle/wharf.mjs"]) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  assert.ok(files.includes("dist/storage/lmdb-probe.mjs"), "runtime .mjs helpers are copied");
  for (const f of ["dist/bundle/lmdb-probe.mjs", "dist/bundle/dashboard/index.html", "dist/bundle/dashboard/app.js"]) {
    assert.ok(files.includes(f), `${f}, read by the bundle beside itself, is packed`);
  }
  const stray = files.filter(
    (f) => /^(src|test|bench|scripts)\//.test(f) || (f.endsWith(".ts") && !f.endsWith(".d.ts")),
  );
  assert.deepEqual(stray, []);
  for (const f of files.filter((x) => x.endsWith(".d.ts"))) {
    const text = readFileSync(join(jsDir, "node_modules", "wharfmq", f), "utf8");
    assert.doesNotMatch(text, /from\s+["']\.{1,2}\/[^"']*\.ts["']/, `${f} imports .js specifiers`);
  }
});

test("installed from the tarball, no TypeScript or tsx is needed at runtime", () => {
  const manifest = JSON.parse(readFileSync(join(jsDir, "node_modules", "wharfmq", "package.json"), "utf8"));
  assert.equal(manifest.dependencies.tsx, undefined);
  assert.equal(manifest.dependencies.typescript, undefined);
  assert.equal(manifest.exports["."].types, "./dist/index.d.ts");
  // npm itself installed the package from the tarball (test/helpers/pack.ts links only the dependencies in first):
  // its record of the tree, rewritten by `npm install`, names the tarball (relative to the project).
  const record = JSON.parse(readFileSync(join(jsDir, "node_modules", ".package-lock.json"), "utf8")) as {
    packages: Record<string, { resolved?: string }>;
  };
  const resolved = record.packages["node_modules/wharfmq"]?.resolved ?? "";
  assert.equal(resolve(jsDir, resolved.replace(/^file:/, "")), tarball, `npm's record: ${resolved}`);
});

for (const example of examples(".mjs")) {
  test(`plain JavaScript project: examples/${example} runs against the installed package`, async () => {
    const file = join(jsDir, example);
    copyFileSync(join(repoRoot, "examples", example), file);
    const { stdout } = await sh(process.execPath, [file], jsDir);
    for (const line of expectedOutput(file)) assert.ok(stdout.includes(line), `prints ${line}\n--- got:\n${stdout}`);
  });
}

/**
 * The TypeScript project compiled once (each compile loads @types/node and the package's declarations: ~2.5 s of CPU):
 * the examples, bad.ts, a type error against the published API, and bad-declarations.d.ts, a declaration file with
 * an error (declaration files are checked, as the published ones must be). The compile exits non-zero because of
 * them and still emits the examples; the tests below check that both errors are reported and are the only ones.
 */
let compiled: Promise<{ status: number; output: string }> | undefined;
function compileTsProject(): Promise<{ status: number; output: string }> {
  compiled ??= (async () => {
    const tsExamples = examples(".ts");
    assert.ok(tsExamples.length > 0);
    for (const example of tsExamples) copyFileSync(join(repoRoot, "examples", example), join(tsDir, example));
    writeFileSync(
      join(tsDir, "bad.ts"),
      'import { createBroker } from "wharfmq";\nawait createBroker({ listeners: [{ port: "1883" }] });\n',
    );
    writeFileSync(join(tsDir, "bad-declarations.d.ts"), "export declare const broken: NoSuchType;\n");
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        skipLibCheck: false,
        // TypeScript's own lib files (lib.es2022.full.d.ts, DOM included) are not checked: they are not ours, and
        // checking them cost ~1.6 of this tsc's ~6 s of CPU (4.1-4.7 against 5.9-6.8 s, 4 runs each, 2026-12-07).
        // Nor are @types/node's (test/helpers/consumer-typecheck.ts); every other declaration file, the published
        // ones first, is checked.
        skipDefaultLibCheck: true,
        types: ["node"],
        outDir: "out",
      },
      files: [...tsExamples, "bad.ts", "bad-declarations.d.ts"],
    };
    writeFileSync(join(tsDir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    try {
      const { stdout } = await sh(process.execPath, [...consumerTsc, tsDir], repoRoot);
      return { status: 0, output: stdout };
    } catch (err) {
      return { status: 1, output: (err as Error).message };
    }
  })();
  return compiled;
}

test(
  "TypeScript project: the examples typecheck (strict) from the published .d.ts files, compile and run",
  slow,
  async () => {
    const { output } = await compileTsProject();
    const errors = output.split("\n").filter((l) => /error TS\d+/.test(l));
    assert.ok(errors.length > 0, `bad.ts's error is reported:\n${output}`);
    assert.deepEqual(
      errors.filter((l) => !l.startsWith("bad.ts(") && !l.startsWith("bad-declarations.d.ts(")),
      [],
      "no error outside bad.ts and bad-declarations.d.ts: the examples and the published declarations typecheck",
    );
    const ownLib = join(repoRoot, "node_modules", "typescript");
    const fromRepo = output
      .split("\n")
      .filter((f) => f.startsWith(repoRoot) && !f.startsWith(ownLib) && !/error TS\d+/.test(f));
    assert.deepEqual(fromRepo, [], "nothing of the repository but TypeScript's own lib files is compiled");
    assert.ok(
      output.includes(join(tsDir, "node_modules", "wharfmq", "dist", "index.d.ts")),
      "the published .d.ts is used",
    );
    // The entry's declarations name none of the package's dependencies: when they reached the composition root,
    // every consumer's program also parsed and checked etcd3, gRPC and the OpenTelemetry SDK (607 files against
    // 295; the consumer's tsc ~7 against ~6 s of CPU, 230 against 186 MB).
    const { dependencies } = JSON.parse(
      readFileSync(join(jsDir, "node_modules", "wharfmq", "package.json"), "utf8"),
    ) as {
      dependencies: Record<string, string>;
    };
    const fromDependencies = output
      .split("\n")
      .filter((f) => Object.keys(dependencies).some((d) => f.startsWith(join(tsDir, "node_modules", d) + "/")));
    assert.deepEqual(fromDependencies, [], "no dependency's declarations are in a consumer's program");
    for (const example of examples(".ts")) {
      const { stdout } = await sh(process.execPath, [join(tsDir, "out", example.replace(/\.ts$/, ".js"))], tsDir);
      for (const line of expectedOutput(join(tsDir, example))) {
        assert.ok(stdout.includes(line), `${example} prints ${line}\n--- got:\n${stdout}`);
      }
    }
  },
);

test(
  "TypeScript project: a type error against the published API, and one in a declaration file, are reported (the check is not vacuous)",
  slow,
  async () => {
    const { status, output } = await compileTsProject();
    assert.equal(status, 1, "tsc fails");
    assert.match(output, /bad\.ts\(2,\d+\): error TS2322:.*(listeners|string.*number)/);
    assert.match(output, /bad-declarations\.d\.ts\(1,\d+\): error TS\d+: Cannot find name .NoSuchType./);
  },
);

test("the installed `wharf` bin runs the CLI", async () => {
  const bin = join(jsDir, "node_modules", ".bin", "wharf");
  const version = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version;
  const { stdout } = await sh(bin, ["--version"], jsDir);
  assert.equal(stdout.trim(), version);
  const cfg = join(jsDir, "wharf.yaml");
  writeFileSync(cfg, "listeners:\n  - port: 99999\n");
  await assert.rejects(sh(bin, ["check-config", cfg], jsDir), /listeners\[0\]\.port/);
});

test("the installed `wharf start` runs from the bundle alone: the dashboard is served and LMDB storage opens", async (t) => {
  // A copy of the installed project (hard links) whose package keeps nothing of dist/ but the bundle: a bin that
  // still loaded tsc's modules (dist/cli/main.js and the ~250 files it imports) would fail to start here.
  const cliDir = join(work, "cli");
  await sh("cp", ["-al", jsDir, cliDir], work);
  const installedDist = join(cliDir, "node_modules", "wharfmq", "dist");
  for (const name of readdirSync(installedDist)) {
    if (name !== "bundle") rmSync(join(installedDist, name), { recursive: true, force: true });
  }
  const dataDir = join(work, "lmdb-data");
  const wharf = await spawnWharf(t, {
    launcher: true,
    launcherPath: join(cliDir, "node_modules", ".bin", "wharf"),
    args: ["--storage", "lmdb", "--data-dir", dataDir],
  });
  const listening = wharf.logs.find((l) => l.msg === "listening") as { management?: { port: number } };
  const port = listening.management?.port;
  assert.ok(port !== undefined, "the management API listens");
  // src/admin/dashboard.ts reads its files next to its code: in the bundle, dist/bundle/dashboard/.
  const page = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script type="module" src="\/dashboard\/app\.js"><\/script>/);
  const script = await fetch(`http://127.0.0.1:${port}/dashboard/app.js`);
  assert.equal(script.status, 200);
  assert.ok((await script.text()).length > 0);
  assert.equal((await wharf.kill("SIGTERM")).code, 0);
  // A second start on the same data: an existing store is first read through by dist/bundle/lmdb-probe.mjs in a
  // child process (src/storage/lmdb-check.ts), found beside the bundle.
  assert.ok(readdirSync(dataDir).includes("data.mdb"), "the first start created the store");
  const again = await spawnWharf(t, {
    launcher: true,
    launcherPath: join(cliDir, "node_modules", ".bin", "wharf"),
    args: ["--storage", "lmdb", "--data-dir", dataDir],
  });
  assert.equal((await again.kill("SIGTERM")).code, 0);
});
