import { connect, type Socket } from 'node:net';
import { parsePromText } from '../../src/metrics/prom-text.js';

/** A raw TCP client whose writes and close the test controls; `received` grows as bytes arrive. */
export interface RawClient {
  readonly socket: Socket;
  received: string;
  closed: boolean;
  /** Resolves when the server has closed the connection (or it was destroyed); rejects after `timeoutMs`. */
  whenClosed(timeoutMs?: number): Promise<void>;
}

export async function openRaw(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const client: RawClient = {
    socket,
    received: '',
    closed: false,
    whenClosed(timeoutMs = 5_000) {
      if (client.closed) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the connection stayed open for ${timeoutMs} ms`)), timeoutMs);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
  socket.on('data', (chunk: Buffer) => {
    client.received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    client.closed = true;
  });
  return client;
}

/** The status code of a raw HTTP/1.1 reply, or 0 when there is no status line. */
export function statusOf(reply: string): number {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(reply);
  return match ? Number(match[1]) : 0;
}

/** The header section of a raw reply as a lower-cased map (last value wins). */
export function headersOf(reply: string): Record<string, string> {
  const out: Record<string, string> = {};
  const head = reply.slice(0, reply.indexOf('\r\n\r\n'));
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

/**
 * Every series of a Prometheus text (name plus sorted labels), without the values. Fails when a line is
 * neither a comment nor a sample: hostile input must not be able to break the exposition either.
 */
export function seriesKeys(text: string): string[] {
  const keys: string[] = [];
  for (const [name, samples] of parsePromText(text)) {
    for (const sample of samples) {
      const labels = Object.entries(sample.labels)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, value]) => `${key}=${JSON.stringify(value)}`);
      keys.push(`${name}{${labels.join(',')}}`);
    }
  }
  const lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  if (keys.length !== lines.length) throw new Error(`${lines.length - keys.length} line(s) are not samples`);
  return keys.sort();
}
