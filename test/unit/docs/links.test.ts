// Every relative Markdown link in README.md and docs/ points at a file that exists and, when it names a section
// (`file.md#anchor`, `#anchor`), at a heading of that file, under the anchor GitHub gives it: lower case, every
// character that is not a letter, digit, mark, space, hyphen or underscore dropped (colons, dots, en dashes,
// parentheses...), spaces turned into hyphens, and a repeated heading suffixed -1, -2, ... (github-slugger's rules).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));

function githubSlug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a Markdown file's headings (code fences skipped). */
function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    // Inline markup leaves no trace in the anchor: `code`, **bold**, [text](link) keep only their text.
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*]/g, "");
    const base = githubSlug(text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

function markdownFiles(): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join(root, "docs", f));
  return [join(root, "README.md"), ...docs];
}

test("githubSlug drops punctuation GitHub drops (en dashes, colons, dots, parentheses) and keeps hyphens", () => {
  assert.equal(
    githubSlug("Quiet rerun at the end of stop 14 (2026-12-06 21:22–21:45 UTC, load 0.0–2.5)"),
    "quiet-rerun-at-the-end-of-stop-14-2026-12-06-21222145-utc-load-0025",
  );
  assert.equal(githubSlug("Stop 16: the webhook's cost (issue 15)"), "stop-16-the-webhooks-cost-issue-15");
  assert.equal(githubSlug("`wharf_x_total` and $SYS/#"), "wharf_x_total-and-sys");
});

test("every relative link in README.md and docs/*.md names an existing file and heading", () => {
  const broken: string[] = [];
  const cache = new Map<string, Set<string>>();
  for (const file of markdownFiles()) {
    let fenced = false;
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
        if (fenced) return;
        for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
          const href = m[1]!;
          if (/^[a-z]+:/i.test(href)) continue; // http:, https:, mailto:
          const [path, anchor] = href.split("#") as [string, string | undefined];
          const target = path === "" ? file : resolve(dirname(file), path);
          const where = `${relative(root, file)}:${i + 1}: ${href}`;
          if (!existsSync(target)) {
            broken.push(`${where} (no such file)`);
            continue;
          }
          if (anchor === undefined || !target.endsWith(".md")) continue;
          let anchors = cache.get(target);
          if (anchors === undefined) cache.set(target, (anchors = anchorsOf(target)));
          if (!anchors.has(decodeURIComponent(anchor))) broken.push(`${where} (no such heading)`);
        }
      });
  }
  assert.deepEqual(broken, []);
});
