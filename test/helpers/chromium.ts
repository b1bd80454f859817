import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium: playwright-core never downloads a browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
/** Flags for a sandboxed, offline machine: no background traffic to Google's hosts, no GPU. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** False (and the test skipped) where Chromium is not installed, which CI does not allow. */
export function hasChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  assert.ok(!process.env.CI, 'Chromium must be installed in CI (.ci/run installs it)');
  t.skip('Chromium is not installed (apt-get install chromium)');
  return false;
}

/** A fresh headless Chromium, closed when the test ends. */
export async function launchChromium(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  return browser;
}
