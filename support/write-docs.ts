import { readFile, writeFile } from 'node:fs/promises';
import { CONFIGURATION_PAGE, withFlagTable } from './flag-table.js';

/** `npm run docs`: rewrites the generated parts of docs/ from the code (today the flag table). */
async function main(): Promise<void> {
  const page = await readFile(CONFIGURATION_PAGE, 'utf8');
  const next = withFlagTable(page);
  if (next === page) console.log('docs/configuration.md: flag table up to date');
  else {
    await writeFile(CONFIGURATION_PAGE, next);
    console.log('docs/configuration.md: flag table rewritten');
  }
}

await main();
