import type { IncomingMessage } from 'node:http';
import { ERR_BODY_TOO_LARGE, ERR_CLIENT_ABORTED, ProxyError } from '../shared/proxy-error.js';

/**
 * Reads a request body up to `limitBytes`. A declared Content-Length over the limit fails before a
 * byte is read, so a 413 goes out without waiting for the upload.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    return Promise.reject(new ProxyError(ERR_BODY_TOO_LARGE, `the request body is larger than the ${limitBytes}-byte limit`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        reject(new ProxyError(ERR_BODY_TOO_LARGE, `the request body is larger than the ${limitBytes}-byte limit`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(new ProxyError(ERR_CLIENT_ABORTED, 'the client aborted the request body'));
    };
    const onClose = (): void => {
      if (req.complete) return;
      cleanup();
      reject(new ProxyError(ERR_CLIENT_ABORTED, 'the client closed the connection during the request body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
