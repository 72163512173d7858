// Packs the repository with `npm pack` (which builds dist/ through prepack) and installs the tarball into fresh
// projects the way a user would, offline: the project's package-lock.json is derived from the repository's, so npm
// takes the package from the tarball and every dependency at the exact versions tested here, without registry
// metadata (the local cache holds the tarballs, not the metadata a lockfile-less `npm install --offline` needs).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./spawn-wharf.ts";

const run = promisify(execFile);

interface LockEntry {
  version?: string;
  dev?: boolean;
  bin?: Record<string, string>;
  [key: string]: unknown;
}

interface Manifest {
  name: string;
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs a command in `cwd`, rejecting with its output when it fails. */
export async function sh(cmd: string, args: string[], cwd: string, timeout = 300_000): Promise<CommandResult> {
  try {
    return await run(cmd, args, { cwd, timeout, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: "1" } });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/** `npm pack` of the repository into `dir`; returns the tarball's file name (in `dir`). */
export async function packRepo(dir: string): Promise<string> {
  // `npm test` has built dist/ from these sources a minute ago (WHARF_TEST_DIST_BUILT=1): skip prepack's second
  // build (~20 s of CPU). Run on its own, the test packs the way `npm publish` does, build included.
  const fresh = process.env["WHARF_TEST_DIST_BUILT"] === "1" ? ["--ignore-scripts"] : [];
  const { stdout } = await sh("npm", ["pack", ...fresh, "--pack-destination", dir, "--json"], repoRoot);
  const [info] = JSON.parse(stdout.slice(stdout.indexOf("[\n"))) as { filename: string }[];
  return info!.filename;
}

/** Files in the tarball (paths without the leading `package/`). */
export async function tarballFiles(tarball: string): Promise<string[]> {
  const { stdout } = await sh("tar", ["tzf", tarball], process.cwd());
  return stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/^package\//, ""));
}

/**
 * Creates `dir` as an npm project depending on the tarball (and on `devPackages` from the repository's lockfile,
 * e.g. typescript) and installs it with `npm install --offline`, the dependencies first linked in from the
 * repository's node_modules (`linkInstalledDependencies`).
 */
export async function installTarball(dir: string, tarball: string, devPackages: readonly string[] = []): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as Manifest;
  const spec = `file:${tarball}`;
  const integrity = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  const devDependencies: Record<string, string> = {};
  for (const name of devPackages) devDependencies[name] = lock.packages[`node_modules/${name}`]!.version!;
  const project = {
    name: "wharf-consumer",
    private: true,
    type: "module",
    dependencies: { [manifest.name]: spec },
    devDependencies,
  };
  const packages: Record<string, unknown> = {
    "": { name: project.name, dependencies: project.dependencies, devDependencies },
  };
  packages[`node_modules/${manifest.name}`] = {
    version: manifest.version,
    resolved: spec,
    integrity,
    license: manifest.license,
    dependencies: manifest.dependencies,
    bin: manifest.bin,
    engines: manifest.engines,
  };
  // The repository's production closure is exactly the package's (same dependencies); dev entries are left out
  // except those asked for (their own dependencies are at the top level of the repository's tree as well).
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith("node_modules/") || path === `node_modules/${manifest.name}`) continue;
    const top = path.slice("node_modules/".length);
    if (entry.dev === true && !devPackages.includes(top)) continue;
    packages[path] = entry;
  }
  writeFileSync(join(dir, "package.json"), JSON.stringify(project, null, 2));
  writeFileSync(
    join(dir, "package-lock.json"),
    JSON.stringify({ name: project.name, lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  await linkInstalledDependencies(dir, project.name, packages, `node_modules/${manifest.name}`);
  await sh("npm", ["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], dir);
}

/**
 * Puts the dependencies into `dir`'s node_modules before npm runs: hard links to the repository's installed copies
 * of the lock entries `packages` (the very files the repository's tests ran against, at the lockfile's versions), their
 * bin links, and npm's record of them (node_modules/.package-lock.json, which npm trusts when it is newer than the
 * folders). npm then finds them installed and extracts only the package itself from the tarball, links its bin and
 * writes the tree's record. Why: `npm ci --offline` extracted the 5,678 files of the production dependencies from
 * its cache and the test deleted them again, 4.5-6.7 s of CPU (half of it system time) of the test's ~11.7 s; this
 * costs ~0.25 s for the links and ~0.85 s for npm (2026-12-07, load ~6). A dependency not installed here at the
 * lockfile's version (another platform's optional binary, a stale tree) is left to npm, which installs it from its
 * cache as before; so is everything when the temporary directory cannot hold hard links to the checkout (another file
 * system).
 */
async function linkInstalledDependencies(
  dir: string,
  name: string,
  packages: Record<string, unknown>,
  self: string,
): Promise<void> {
  const installed: Record<string, LockEntry> = {};
  for (const [path, value] of Object.entries(packages)) {
    const entry = value as LockEntry;
    if (path === "" || path === self || !path.startsWith("node_modules/")) continue;
    const manifest = join(repoRoot, path, "package.json");
    if (!existsSync(manifest)) continue;
    const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version?: string };
    if (version === entry.version) installed[path] = entry;
  }
  // Nested entries (node_modules/a/node_modules/b) come with their top-level folder, which is linked only if it is in
  // the list itself: the top-level folders of the list, each once.
  const top = Object.keys(installed).filter((p) => !p.slice("node_modules/".length).includes("/node_modules/"));
  const nested = Object.keys(installed).filter((p) => !top.includes(p));
  for (const p of nested) {
    if (!top.some((t) => p.startsWith(`${t}/`))) delete installed[p];
  }
  const bins = top.flatMap((p) =>
    Object.keys(installed[p]!.bin ?? {})
      .map((b) => `node_modules/.bin/${b}`)
      .filter((b) => existsSync(join(repoRoot, b))),
  );
  if (top.length === 0) return;
  try {
    // --parents keeps each path under dir (node_modules/@scope/x); -a keeps the bin symlinks as symlinks.
    await sh("cp", ["-al", "--parents", ...top, ...bins, dir], repoRoot);
  } catch {
    rmSync(join(dir, "node_modules"), { recursive: true, force: true });
    return;
  }
  writeFileSync(
    join(dir, "node_modules", ".package-lock.json"),
    JSON.stringify({ name, lockfileVersion: 3, requires: true, packages: installed }, null, 2),
  );
}

/** The examples shipped in examples/ with the given extension. */
export function examples(ext: string): string[] {
  return readdirSync(join(repoRoot, "examples"))
    .filter((f) => f.endsWith(ext))
    .sort();
}

/** The `// prints: …` lines an example declares (each must appear in its output). */
export function expectedOutput(file: string): string[] {
  return [...readFileSync(file, "utf8").matchAll(/^\/\/ prints: (.*)$/gm)].map((m) => m[1]!);
}
