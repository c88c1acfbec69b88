/**
 * The documents and the code's comments name only files that exist and cite only sections of
 * docs/design.md that exist, so a reader following them never looks for something that is not
 * there. Comments are read from every SQL and TypeScript file under the folders below, whatever
 * files those folders hold when the test runs.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { repoRoot } from "../../scripts/stack/config.ts";

const documents = ["README.md", "BENCHMARKS.md", "docs/operations.md", "docs/design.md"];

/** The top-level folders of the repository that a document or a comment may point into. */
const folders = ["docs", "functions", "scripts", "sql", "supabase", "tests"];

/** The folders whose SQL and TypeScript comments are checked. */
const commented = ["functions", "scripts", "sql", "supabase", "tests"];

const design = "docs/design.md";

/**
 * Paths a text names: repository paths starting with one of `folders`, Markdown links, and
 * bare names of the Markdown files at the top (README.md, BENCHMARKS.md).
 */
function namedPaths(text: string): string[] {
  const inFolders = new RegExp(`(?<![\\w./@-])(?:${folders.join("|")})/[\\w./*-]*[\\w*/]`, "g");
  const links = [...text.matchAll(/\]\((?![a-z]+:)([^)#\s]+)[^)]*\)/g)].map((match) => match[1]);
  const topMarkdown = text.match(/(?<![\w./-])[A-Z]+\.md\b/g) ?? [];
  return [...new Set([...(text.match(inFolders) ?? []), ...links, ...topMarkdown])];
}

/**
 * The repository's files under `folder`, as repository paths: hidden folders (.git, .stack, the
 * CLI's supabase/.temp) and node_modules are not the repository's.
 */
function files(folder = ""): string[] {
  const root = join(repoRoot, folder);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      return entry.name.startsWith(".") || entry.name === "node_modules" ? [] : files(path);
    }
    return [path];
  });
}

/** Every file name in the repository, for names given without their folder. */
const fileNames = new Set(files().map((path) => path.split("/").pop()!));

/** SQL and TypeScript files a text names without their folder, such as `02_export.sql`. */
function namedFiles(text: string): string[] {
  return [...new Set(text.match(/(?<![\w./<>*@-])\w[\w.-]*\.(?:sql|ts)\b(?![\w/])/g) ?? [])];
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

/** The section names of docs/design.md: its second-level headings. */
const sections = [...Deno.readTextFileSync(join(repoRoot, design)).matchAll(/^## (.+)$/gm)]
  .map((match) => match[1].trim());

/**
 * The citations of a section in `text` (the section sign, then the name) that start with no
 * section name of docs/design.md; a `<placeholder>` is not a citation. A citation may wrap across
 * comment lines, so whitespace and comment markers at line starts count as one space.
 */
function unknownSections(text: string): string[] {
  const flat = text.replace(/\n\s*(?:--|\/\/|\*(?!\/))?\s*/g, " ");
  return [...flat.matchAll(/§\s*[`"]?([^\n]{0,80})/g)]
    .map((match) => match[1])
    .filter((cited) =>
      !cited.startsWith("<") &&
      !sections.some((name) =>
        cited.toLowerCase().startsWith(name.toLowerCase()) &&
        !/\w/.test(cited.charAt(name.length))
      )
    )
    .map((cited) => `§ ${cited.split(/[.;:)]/)[0].trim()}`);
}

/** The comments of a SQL or TypeScript source: block comments and line comments. */
function comments(source: string, path: string): string {
  const line = path.endsWith(".sql") ? /--[^\n]*/g : /(?<![:"'`\\\w])\/\/[^\n]*/g;
  const block = /\/\*[\s\S]*?\*\//g;
  return [...(source.match(block) ?? []), ...(source.match(line) ?? [])].join("\n");
}

/** Every .sql and .ts file under `folder`, as a repository path. */
const sources = (folder: string) => files(folder).filter((path) => /\.(sql|ts)$/.test(path)).sort();

for (const document of documents) {
  Deno.test(`${document} names only files and design sections that exist`, () => {
    const text = Deno.readTextFileSync(join(repoRoot, document));
    const base = document.includes("/") ? dirname(document) : "";
    const missing = namedPaths(text).filter((path) =>
      !exists(path) && !(base && exists(join(base, path)))
    );
    assert.deepEqual(missing, [], `${document} names files that do not exist`);
    assert.deepEqual(unknownSections(text), [], `${document} cites sections ${design} lacks`);
  });
}

Deno.test("SQL and TypeScript comments name only files and design sections that exist", () => {
  const wrong: string[] = [];
  for (const path of commented.flatMap(sources)) {
    const text = comments(Deno.readTextFileSync(join(repoRoot, path)), path);
    for (const named of namedPaths(text).filter((named) => !exists(named))) {
      wrong.push(`${path} names ${named}, which does not exist`);
    }
    for (const named of namedFiles(text).filter((named) => !fileNames.has(named))) {
      wrong.push(`${path} names ${named}, which is no file of the repository`);
    }
    for (const cited of unknownSections(text)) {
      wrong.push(`${path} cites ${cited}, which ${design} does not have`);
    }
  }
  assert.deepEqual(wrong, []);
});
