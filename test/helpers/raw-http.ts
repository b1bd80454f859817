import { connect } from 'node:net';

const RAW_TIMEOUT_MS = 5_000;

/** Writes `text` on a fresh TCP connection and resolves with everything read until the server closes (bounded). */
export function rawRequest(port: number, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(RAW_TIMEOUT_MS, () => {
      socket.destroy();
      reject(new Error(`no complete reply within ${RAW_TIMEOUT_MS} ms; got ${JSON.stringify(data.slice(0, 200))}`));
    });
  });
}

/** The JSON body of a raw HTTP/1.1 response with Content-Length. */
export function rawJsonBody(reply: string): unknown {
  return JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
}
