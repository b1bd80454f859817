import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { inlineModules } from '../../src/dashboard/inline-modules.js';
import { DASHBOARD_SCRIPT_ENTRY, sendDashboard } from '../../src/dashboard/send-dashboard.js';
import { run } from '../../support/processes.js';
import { send } from '../helpers/http.js';

const CHECK_TIMEOUT_MS = 15_000;
const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'";

/** Writes `files` (compiled-JS look-alikes) into a fresh directory; returns the URL of `entry` in it. */
function modules(t: TestContext, files: Record<string, string>, entry: string): URL {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-inline-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return pathToFileURL(join(dir, entry));
}

test('the page’s script is the built modules with no import or export left, prom-text first and once', async (t) => {
  const script = inlineModules(DASHBOARD_SCRIPT_ENTRY);
  assert.doesNotMatch(script, /^\s*(?:import|export)\b/m);
  // Both the page and the series module import prom-text: one parser, inlined once.
  assert.equal(script.split('function parsePromText(').length, 2);
  const order = [
    'function parsePromText(',
    'function readDashboard(',
    'function linesOf(',
    'function drawChart(',
    'function startDashboard(',
  ];
  const positions = order.map((marker) => script.indexOf(marker));
  assert.ok(
    positions.every((at, i) => at >= 0 && (i === 0 || at > (positions[i - 1] as number))),
    `dependencies first: ${positions}`,
  );
  // The browser parses it as a module: so does node --check (duplicate declarations would be an early error).
  const file = join(mkdtempSync(join(tmpdir(), 'iproxy-page-')), 'page.mjs');
  t.after(() => rmSync(join(file, '..'), { recursive: true, force: true }));
  writeFileSync(file, script);
  const checked = await run(process.execPath, ['--check', file], {}, CHECK_TIMEOUT_MS);
  assert.deepEqual(checked, { code: 0, stdout: '', stderr: '' });
});

test('modules keep their own top-level names, and a shared dependency runs once', (t) => {
  const entry = modules(
    t,
    {
      'shared.js': "let loads = 0;\nloads++;\nexport const NAME = 'shared';\nexport function loaded() {\n  return loads;\n}\n",
      'a.js': "import { NAME as shared } from './shared.js';\nconst NAME = 'a';\nexport function a() {\n  return NAME + ':' + shared;\n}\n",
      'b.js': "import { NAME, loaded } from './shared.js';\nexport const b = () => 'b:' + NAME + ':' + loaded();\n",
      'main.js':
        "import { a } from './a.js';\nimport { b } from './b.js';\nconst NAME = 'main';\nglobalThis.result = [a(), b(), NAME].join(' ');\nexport {};\n",
    },
    'main.js',
  );
  const context: { result?: string } = {};
  runInNewContext(inlineModules(entry), context);
  assert.equal(context.result, 'a:shared b:shared:1 main');
});

test('module syntax that cannot be inlined is refused with the file and the line', (t) => {
  for (const line of ['export default 1;', "export * from './other.js';", "import './side-effect.js';", 'export { x };']) {
    const entry = modules(t, { 'main.js': `const x = 1;\n${line}\n` }, 'main.js');
    assert.throws(() => inlineModules(entry), { message: `${entry.pathname}: cannot inline "${line}"` });
  }
});

test('an import cycle and a closing script tag are refused', (t) => {
  const cycle = modules(
    t,
    { 'a.js': "import { b } from './b.js';\nexport const a = 1;\n", 'b.js': "import { a } from './a.js';\nexport const b = a;\n" },
    'a.js',
  );
  assert.throws(() => inlineModules(cycle), { message: `import cycle through ${cycle.pathname}` });
  const tag = modules(t, { 'main.js': "document.body.innerHTML = '</script>';\n" }, 'main.js');
  assert.throws(() => inlineModules(tag), { message: 'an inlined module contains "</script"' });
});

test('GET /dashboard is one self-contained page with the script inline, under the strict CSP', async (t) => {
  const server = createServer((req, res) => sendDashboard(res, req.method === 'HEAD'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const res = await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}/dashboard`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(res.headers['content-security-policy'], CSP);
  assert.equal(Number(res.headers['content-length']), res.body.length);
  assert.equal(res.text.split('<script').length, 2, 'one script element');
  assert.ok(res.text.includes(`<script type="module">\n${inlineModules(DASHBOARD_SCRIPT_ENTRY)}</script>`));
  assert.doesNotMatch(res.text, /\bsrc=|<link|https?:\/\//);
});
