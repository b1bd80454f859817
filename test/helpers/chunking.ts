/** Ways to cut a byte stream into chunks, for parsers that must not care where the cuts fall. */

export function* splitAt(buf: Buffer, points: readonly number[]): Generator<Buffer> {
  let at = 0;
  for (const point of points) {
    yield buf.subarray(at, point);
    at = point;
  }
  yield buf.subarray(at);
}

export function* bytes(buf: Buffer): Generator<Buffer> {
  for (let i = 0; i < buf.length; i++) yield buf.subarray(i, i + 1);
}
