#!/usr/bin/env node
// Import cycles in src/: every relative import counts, `import type` and `export … from` included (a type-only
// cycle still couples the modules and turns into a runtime cycle the day someone imports a value).
// `node scripts/import-cycles.mjs` prints them, and test/unit/lint/import-cycles.test.ts fails on any in src/; the lint
// fails on them too (oxlint's import/no-cycle, .oxlintrc.jsonc).
//
// Strongly connected components (Tarjan) of the module graph; each component of more than one module, or a
// module importing itself, is reported with one concrete cycle through it.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "./typescript.mjs";

const SOURCE = /\.(ts|mts|tsx)$/;

function listSources(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listSources(p));
    else if (SOURCE.test(name) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

function resolveSpecifier(from, spec) {
  if (!spec.startsWith(".")) return undefined; // packages and node: builtins cannot close a cycle in src/
  const base = resolve(dirname(from), spec);
  const candidates = [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")];
  return candidates.find((p) => existsSync(p) && statSync(p).isFile());
}

/** Module graph of every source file under `root`: absolute path -> absolute paths it imports. */
export function importGraph(root) {
  const graph = new Map();
  for (const file of listSources(root)) {
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const deps = new Set();
    for (const ref of info.importedFiles) {
      const target = resolveSpecifier(file, ref.fileName);
      if (target !== undefined) deps.add(target);
    }
    graph.set(file, [...deps]);
  }
  return graph;
}

/** Every cycle-carrying strongly connected component, each as one concrete cycle [a, b, …, a]. */
export function findCycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const visit = (v) => {
    // Iterative Tarjan: src/ is small, but a recursive walk is one refactor away from a stack overflow.
    const work = [[v, 0]];
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [node, i] = frame;
      const deps = graph.get(node) ?? [];
      if (i < deps.length) {
        frame[1]++;
        const w = deps[i];
        if (!graph.has(w)) continue;
        if (!idx.has(w)) {
          idx.set(w, index);
          low.set(w, index);
          index++;
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(node, Math.min(low.get(node), idx.get(w)));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(node)));
      }
      if (low.get(node) === idx.get(node)) {
        const comp = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          comp.push(w);
        } while (w !== node);
        const selfLoop = comp.length === 1 && (graph.get(node) ?? []).includes(node);
        if (comp.length > 1 || selfLoop) components.push(comp);
      }
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return components.map((comp) => concreteCycle(graph, comp));
}

/** A shortest cycle through the component's first module (breadth-first inside the component). */
function concreteCycle(graph, comp) {
  const members = new Set(comp);
  const start = [...comp].sort()[0];
  const prev = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x = v; x !== start; x = prev.get(x)) path.splice(1, 0, x);
        path.push(start);
        return { members: comp, cycle: path };
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return { members: comp, cycle: [start, start] };
}

/** Cycles of the source files under `root`. */
export function cyclesOf(root) {
  return findCycles(importGraph(root));
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = resolve(process.argv[2] ?? join(here, "..", "src"));
  const cycles = cyclesOf(root);
  const cwd = process.cwd();
  for (const { members, cycle } of cycles) {
    console.log(`cycle of ${members.length} modules: ${cycle.map((p) => relative(cwd, p)).join(" -> ")}`);
  }
  console.log(cycles.length === 0 ? "no import cycles" : `${cycles.length} import cycle(s)`);
  process.exit(cycles.length === 0 ? 0 : 1);
}
