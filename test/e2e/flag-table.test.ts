import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { CONFIGURATION_PAGE, flagTable, tableIn } from '../../support/flag-table.js';
import { runCli } from '../helpers/start-proxy.js';

/** Flag -> default as --help prints them (`undefined`: none shown). */
function helpDefaults(help: string): Map<string, string | undefined> {
  const entries = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of help.split('\n')) {
    const flag = /^ {2}--([a-z][a-z-]*)\b/.exec(line);
    if (flag !== null) {
      current = [line];
      entries.set(flag[1] as string, current);
    } else if (line.trim() === '') current = null;
    else current?.push(line.trim());
  }
  const defaults = new Map<string, string | undefined>();
  for (const [flag, lines] of entries) {
    const shown = /\[default: ("(?:[^"\\]|\\.)*")\]/.exec(lines.join(' '));
    defaults.set(flag, shown === null ? undefined : (JSON.parse(shown[1] as string) as string));
  }
  return defaults;
}

/** Flag -> default as the docs' table shows them: the code span of the default column (`undefined`: unset or none). */
function tableDefaults(table: string): Map<string, string | undefined> {
  const defaults = new Map<string, string | undefined>();
  for (const line of table.split('\n')) {
    const row = /^\| `--([a-z][a-z-]*)` \| ([^|]*) \|/.exec(line);
    if (row === null) continue;
    assert.ok(!defaults.has(row[1] as string), `--${row[1]} is in the table twice`);
    defaults.set(row[1] as string, /^`([^`]*)`/.exec(row[2] as string)?.[1]);
  }
  return defaults;
}

test('the flag table of docs/configuration.md is what `npm run docs` generates from src/config/flags.ts', async () => {
  const written = tableIn(await readFile(CONFIGURATION_PAGE, 'utf8'));
  assert.equal(written, flagTable(), 'docs/configuration.md is out of date: run npm run docs');
});

test('the flag table and --help list the same flags with the same defaults', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.equal(code, 0);
  const help = helpDefaults(stdout);
  const table = tableDefaults(tableIn(await readFile(CONFIGURATION_PAGE, 'utf8')));
  assert.ok(help.size > 40, `--help parsed: ${[...help.keys()].join(', ')}`);
  assert.equal(help.get('backend-url'), 'http://localhost:8000', 'a default as --help shows it');
  assert.equal(help.get('api-key'), undefined, 'a flag without one');
  assert.deepEqual([...table.keys()].sort(), [...help.keys()].sort(), 'the same flags');
  assert.deepEqual(new Map([...table].sort()), new Map([...help].sort()), 'the same defaults');
});
