// @ts-check
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import tseslint from "typescript-eslint";
import { cyclesOf } from "./scripts/import-cycles.mjs";

const srcRoot = join(dirname(fileURLToPath(import.meta.url)), "src");

/**
 * `wharf/no-import-cycle`: fails on every module of src/ that is part of an import cycle, type-only imports
 * included (scripts/import-cycles.mjs builds the whole graph once per lint run; `node scripts/import-cycles.mjs`
 * prints the cycles).
 */
const noImportCycle = {
  meta: { type: "problem", schema: [], messages: { cycle: "import cycle: {{cycle}}" } },
  /** @param {import("eslint").Rule.RuleContext} context */
  create(context) {
    const file = context.filename;
    const found = cyclesOf(srcRoot).find((c) => c.members.includes(file));
    if (found === undefined) return {};
    return {
      Program(node) {
        const cycle = found.cycle.map((p) => relative(srcRoot, p)).join(" -> ");
        context.report({ node, messageId: "cycle", data: { cycle } });
      },
    };
  },
};

const socketModules = [
  "net",
  "node:net",
  "tls",
  "node:tls",
  "http",
  "node:http",
  "https",
  "node:https",
  "http2",
  "node:http2",
  "dgram",
  "node:dgram",
  "ws",
];

/** Layer boundaries: dependencies point inwards (docs/broker.md "Layers and seams"). */
const coreNoSockets = {
  "no-restricted-imports": [
    "error",
    {
      paths: socketModules.map((name) => ({
        name,
        message: "The broker core never touches sockets: transports adapt them.",
      })),
      patterns: [
        { group: ["**/transport", "**/transport/**"], message: "Inner layers must not import transports." },
        {
          group: [
            "**/server",
            "**/server/**",
            "**/cli",
            "**/cli/**",
            "**/admin",
            "**/admin/**",
            "**/cluster",
            "**/cluster/**",
          ],
          message: "Inner layers must not import outer layers.",
        },
      ],
    },
  ],
};

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      "dist/**",
      ".build/**",
      "examples/**",
      "data/**",
      "coverage/**",
      "bench/results/**",
      "bin/**",
    ],
  },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unnecessary-condition": "off",
      "@typescript-eslint/no-confusing-void-expression": "off",
      "@typescript-eslint/no-extraneous-class": "off",
      "@typescript-eslint/prefer-literal-enum-member": "off",
      "@typescript-eslint/no-dynamic-delete": "off",
      "@typescript-eslint/no-invalid-void-type": "off",
      "@typescript-eslint/no-unnecessary-type-parameters": "off",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { wharf: { rules: { "no-import-cycle": noImportCycle } } },
    rules: { "wharf/no-import-cycle": "error" },
  },
  { files: ["src/codec/**", "src/topics/**", "src/util/**"], rules: coreNoSockets },
  { files: ["src/storage/**", "src/queues/**", "src/broker/**"], rules: coreNoSockets },
  {
    files: ["src/client/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/broker", "**/broker/**", "**/storage/**", "**/server/**"],
              message: "client/ uses codec and topics only.",
            },
          ],
        },
      ],
    },
  },
  {
    // Tests and benches drive the code from outside; some looseness on test doubles is fine.
    files: ["test/**", "bench/**", "scripts/**"],
    rules: {
      "@typescript-eslint/no-floating-promises": "off",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/restrict-plus-operands": "off",
      "@typescript-eslint/no-base-to-string": "off",
    },
  },
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], ...tseslint.configs.disableTypeChecked },
);
