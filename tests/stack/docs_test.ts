/**
 * The README and the runbook name only files that exist, so an operator following them never
 * looks for a file that is not there.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { repoRoot } from "../../scripts/stack/config.ts";

const documents = ["README.md", "docs/operations.md"];

/** The top-level folders of the repository that a document may point into. */
const folders = ["docs", "functions", "scripts", "sql", "supabase", "tests"];

/**
 * Paths a document names: repository paths starting with one of `folders`, Markdown links, and
 * bare names of the Markdown files at the top (README.md, BENCHMARKS.md).
 */
function namedPaths(text: string): string[] {
  const inFolders = new RegExp(`(?<![\\w./@-])(?:${folders.join("|")})/[\\w./*-]*[\\w*/]`, "g");
  const links = [...text.matchAll(/\]\((?![a-z]+:)([^)#\s]+)[^)]*\)/g)].map((match) => match[1]);
  const topMarkdown = text.match(/(?<![\w./-])[A-Z]+\.md\b/g) ?? [];
  return [...new Set([...(text.match(inFolders) ?? []), ...links, ...topMarkdown])];
}

/** Whether `path` exists, a `*` in its last part matching any characters. */
function exists(path: string): boolean {
  if (!path.includes("*")) return existsSync(join(repoRoot, path));
  const pattern = new RegExp(
    `^${path.split("/").pop()!.replace(/[.]/g, "\\.").replace(/\*/g, ".*")}$`,
  );
  const folder = join(repoRoot, dirname(path));
  return existsSync(folder) && readdirSync(folder).some((name) => pattern.test(name));
}

for (const document of documents) {
  Deno.test(`${document} names only files that exist`, () => {
    const text = Deno.readTextFileSync(join(repoRoot, document));
    const base = document.endsWith(".md") && document.includes("/") ? dirname(document) : "";
    const missing = namedPaths(text).filter((path) =>
      !exists(path) && !(base && exists(join(base, path)))
    );
    assert.deepEqual(missing, [], `${document} names files that do not exist`);
  });
}
