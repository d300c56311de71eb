#!/usr/bin/env node
// `npm run lint:docs`: every relative link in the README, docs/, test/README.md and bench/results/HISTORY.md
// resolves (the file exists, and a `#fragment` names a heading of that file, as GitHub makes its anchors), every
// `npm run <script>` / `npm <command>` the README shows is one that package.json has, and docs/configuration.md
// has the table generated from the config classes (`-- --write` regenerates it). Exits 1 with a list.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { configTable, END, START } from './lib/config-table.mjs';

const root = resolve(import.meta.dirname, '..');
const pages = [
  'README.md',
  'test/README.md',
  'bench/results/HISTORY.md',
  ...readdirSync(join(root, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`),
];
const problems = [];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2... */
function anchorsOf(text) {
  const seen = new Map();
  const anchors = new Set();
  for (const [, heading] of text.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

for (const page of pages) {
  const text = readFileSync(join(root, page), 'utf8');
  const prose = text.replace(/```[\s\S]*?```/g, '');
  for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    const [path, fragment] = target.split('#');
    const file = path === '' ? join(root, page) : resolve(dirname(join(root, page)), path);
    if (!existsSync(file)) {
      problems.push(`${page}: ${target}: no file ${relative(root, file)}`);
      continue;
    }
    if (fragment !== undefined && file.endsWith('.md') && !anchorsOf(readFileSync(file, 'utf8')).has(fragment)) {
      problems.push(`${page}: ${target}: no heading #${fragment} in ${relative(root, file)}`);
    }
  }
}

const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
const npmCommands = new Set(['ci', 'install', 'test', 'start', 'run']);
// Commands are what the README shows as code: its code blocks and `inline code`.
const readme = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```[\s\S]*?```|`[^`\n]+`/g)]
  .map(([code]) => code)
  .join('\n');
for (const [, name] of readme.matchAll(/npm run ([a-z][\w:-]*\w)/g)) {
  if (scripts[name] === undefined) problems.push(`README.md: npm run ${name}: no such script in package.json`);
}
for (const [, command] of readme.matchAll(/\bnpm ([a-z]+)\b/g)) {
  if (!npmCommands.has(command)) problems.push(`README.md: npm ${command}: not a command this project uses`);
}

const configPage = join(root, 'docs/configuration.md');
const page = readFileSync(configPage, 'utf8');
const table = configTable(root);
problems.push(...table.problems.map((problem) => `config: ${problem}`));
const [before, rest] = page.split(START);
const after = rest?.split(END)[1];
if (after === undefined) problems.push('docs/configuration.md: the generated table has no start or end marker');
else if (process.argv.includes('--write')) writeFileSync(configPage, `${before}${table.text}${after}`);
else if (`${before}${table.text}${after}` !== page) {
  problems.push(
    'docs/configuration.md: the variables table is not what the config classes say: run `npm run lint:docs -- --write`',
  );
}

if (problems.length > 0) {
  console.error(`Documentation links and commands:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`docs: ${pages.length} pages, every relative link and README command checked`);
