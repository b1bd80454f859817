import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** What the proxy logged that a soak must report. */
export interface LogCounts {
  warn: number;
  error: number;
  workerDeaths: number;
}

/** Reads the proxy's log line by line (with the access log on it holds a line per request, so it is never read whole). */
export async function countLogLines(logPath: string): Promise<LogCounts> {
  const counts: LogCounts = { warn: 0, error: 0, workerDeaths: 0 };
  for await (const text of createInterface({ input: createReadStream(logPath), crlfDelay: Number.POSITIVE_INFINITY })) {
    // Substring checks, not JSON.parse: cheap enough for a line per request.
    if (text.includes('"level":"warn"')) counts.warn++;
    else if (text.includes('"level":"error"') || text.includes('"level":"fatal"')) counts.error++;
    if (text.includes('"msg":"worker died') || text.includes('"msg":"worker crash loop')) counts.workerDeaths++;
  }
  return counts;
}
