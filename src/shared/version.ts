import { readFileSync } from 'node:fs';

// dist/src/shared/version.js -> the package root is three levels up.
const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const VERSION: string = packageJson.version;
