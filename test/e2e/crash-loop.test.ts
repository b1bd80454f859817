import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { MAIN } from '../helpers/start-proxy.js';

// Five starts and 2.8 s of backoff; a worker's start takes seconds on a loaded 2-core machine.
const WAIT_MS = 40_000;

test('workers that die on start back off, are reported as a crash loop, and the primary stays up', { timeout: 60_000 }, async (t) => {
  // 192.0.2.1 (TEST-NET-1) is not an address of this machine: every worker fails to listen.
  const child = spawn(process.execPath, [MAIN, '--host', '192.0.2.1', '--port', '0', '--workers', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deaths: Array<{ failures: number; restartInMs: number; msg: string }> = [];
  const enough = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${deaths.length} deaths logged`)), WAIT_MS);
    createInterface({ input: child.stdout }).on('line', (text) => {
      const line = JSON.parse(text);
      if (line.msg === 'worker died, restarting it' || line.msg === 'worker crash loop: restarting with backoff') deaths.push(line);
      if (deaths.length >= 5) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await enough;
  assert.deepEqual(
    deaths.map((d) => d.failures),
    [1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    deaths.map((d) => d.restartInMs),
    [0, 400, 800, 1600, 3200],
  );
  assert.equal(deaths[2]?.msg, 'worker crash loop: restarting with backoff');
  assert.equal(child.exitCode, null, 'the primary is still running');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});
