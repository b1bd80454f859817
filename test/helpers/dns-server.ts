import { createSocket, type RemoteInfo } from 'node:dgram';
import type { TestContext } from 'node:test';

export interface DnsServer {
  /** host:port, for --dns-server. */
  readonly address: string;
  /** Sets the A records `name` resolves to (none: the name exists with no address). */
  set(name: string, addresses: readonly string[]): void;
  /** A queries answered so far. */
  queries: number;
}

const TYPE_A = 1;
const CLASS_IN = 1;
const FLAGS_ANSWER = 0x8180;
const FLAGS_NXDOMAIN = 0x8183;
const TTL_S = 1;

/**
 * A DNS server on loopback UDP that answers A queries from a table the test controls (AAAA and other
 * types get an empty answer; unknown names NXDOMAIN). Enough of RFC 1035 for Node's resolver, so tests
 * can move a name's addresses without touching /etc/hosts. Closed by t.after.
 */
export async function startDnsServer(t: TestContext): Promise<DnsServer> {
  const records = new Map<string, readonly string[]>();
  const socket = createSocket('udp4');
  const state = {
    address: '',
    queries: 0,
    set(name: string, addresses: readonly string[]) {
      records.set(name.toLowerCase(), addresses);
    },
  };
  socket.on('message', (query: Buffer, peer: RemoteInfo) => {
    const answer = answerTo(query, records, () => state.queries++);
    if (answer !== null) socket.send(answer, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  state.address = `127.0.0.1:${socket.address().port}`;
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return state;
}

function answerTo(query: Buffer, records: ReadonlyMap<string, readonly string[]>, countA: () => void): Buffer | null {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let at = 12;
  while (at < query.length && query[at] !== 0) {
    const length = query[at] as number;
    labels.push(query.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  const questionEnd = at + 5;
  if (questionEnd > query.length) return null;
  const type = query.readUInt16BE(at + 1);
  const name = labels.join('.').toLowerCase();
  const addresses = records.get(name);
  if (type === TYPE_A) countA();
  const answers = type === TYPE_A && addresses !== undefined ? addresses : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(addresses === undefined ? FLAGS_NXDOMAIN : FLAGS_ANSWER, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const answerRecords = answers.map((address) => {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // a pointer to the name in the question
    record.writeUInt16BE(TYPE_A, 2);
    record.writeUInt16BE(CLASS_IN, 4);
    record.writeUInt32BE(TTL_S, 6);
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((part, i) => {
      record[12 + i] = Number(part);
    });
    return record;
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answerRecords]);
}
