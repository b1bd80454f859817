import { inflateSync } from 'node:zlib';

export interface Image {
  width: number;
  height: number;
  channels: number;
  /** Row-major pixels, `channels` bytes each. */
  pixels: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are). */
export function decodePng(file: Buffer): Image {
  if (!file.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < file.length; ) {
    const length = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    const data = file.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (depth !== 8 || interlace !== 0 || (colour !== 2 && colour !== 6)) throw new Error('unsupported PNG format');
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) unfilterRow(raw, y, stride, channels, pixels);
  return { width, height, channels, pixels };
}

function unfilterRow(raw: Buffer, y: number, stride: number, bpp: number, out: Buffer): void {
  const filter = raw[y * (stride + 1)];
  const src = y * (stride + 1) + 1;
  const row = y * stride;
  const prev = row - stride;
  for (let x = 0; x < stride; x++) {
    const a = x >= bpp ? (out[row + x - bpp] as number) : 0;
    const b = y > 0 ? (out[prev + x] as number) : 0;
    const c = x >= bpp && y > 0 ? (out[prev + x - bpp] as number) : 0;
    const value = raw[src + x] as number;
    let predicted = 0;
    if (filter === 1) predicted = a;
    else if (filter === 2) predicted = b;
    else if (filter === 3) predicted = (a + b) >> 1;
    else if (filter === 4) {
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    out[row + x] = (value + predicted) & 0xff;
  }
}

/** Pixels inside the box whose colour is within `tolerance` of rgb. */
export function countColour(
  image: Image,
  box: { x: number; y: number; width: number; height: number },
  rgb: [number, number, number],
  tolerance = 40,
): number {
  let count = 0;
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(image.width, Math.ceil(box.x + box.width));
  const y1 = Math.min(image.height, Math.ceil(box.y + box.height));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * image.width + x) * image.channels;
      const p = image.pixels;
      if (
        Math.abs((p[i] as number) - rgb[0]) < tolerance &&
        Math.abs((p[i + 1] as number) - rgb[1]) < tolerance &&
        Math.abs((p[i + 2] as number) - rgb[2]) < tolerance
      )
        count++;
    }
  }
  return count;
}
