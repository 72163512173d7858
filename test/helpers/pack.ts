// Packs the repository with `npm pack` (which builds dist/ through prepack) and installs the tarball into fresh
// projects the way a user would, offline: the project's package-lock.json is derived from the repository's, so
// `npm ci --offline` takes every dependency from the local npm cache at the exact versions tested here (a plain
// `npm install --offline` would need registry metadata the cache does not hold, only the tarballs).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./spawn-wharf.ts";

const run = promisify(execFile);

interface LockEntry {
  version?: string;
  dev?: boolean;
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
 * e.g. typescript) and installs it with `npm ci --offline`.
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
  await sh("npm", ["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], dir);
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
