#!/usr/bin/env node
// Draws the application icon (build/icon.png, 1024x1024 RGBA) with no image library: a rounded
// tile with a blue gradient, four rising bars (a benchmark) and a thin accent line across them.
// electron-builder derives the .icns (macOS), .ico (Windows) and Linux icon sizes from this file.
// Run `node build/make-icon.mjs` after changing the drawing; the PNG is committed.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const SIZE = 1024;
/** Samples per pixel along each axis (4 x 4) for smooth, antialiased edges. */
const SUPER = 4;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Encodes RGBA pixels as a PNG (8-bit, colour type 6, "Sub" filter on every row). */
function encodePng(width, height, rgba) {
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    raw[row] = 1;
    for (let x = 0; x < stride; x++) {
      const left = x >= 4 ? rgba[y * stride + x - 4] : 0;
      raw[row + 1 + x] = (rgba[y * stride + x] - left) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** True when (x, y), in units of the icon size, lies inside a rounded rectangle. */
function inRoundedRect(x, y, left, top, right, bottom, radius) {
  if (x < left || x > right || y < top || y > bottom) return false;
  const cx = Math.min(Math.max(x, left + radius), right - radius);
  const cy = Math.min(Math.max(y, top + radius), bottom - radius);
  return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
}

const BARS = [0.36, 0.5, 0.64, 0.78].map((height, i) => ({
  left: 0.2 + i * 0.155,
  right: 0.2 + i * 0.155 + 0.11,
  top: 0.82 - height * 0.78,
}));

/** Colour of one sample as [r, g, b, a] in 0..1, or undefined outside the tile. */
function sample(x, y) {
  if (!inRoundedRect(x, y, 0.04, 0.04, 0.96, 0.96, 0.2)) return undefined;
  // Background: deep blue at the top to teal at the bottom.
  const t = (y - 0.04) / 0.92;
  let color = [0.07, 0.16 + 0.3 * t, 0.42 + 0.12 * t, 1];
  for (const bar of BARS) {
    if (inRoundedRect(x, y, bar.left, bar.top, bar.right, 0.82, 0.025)) color = [1, 1, 1, 1];
  }
  // The accent: a line from the lowest bar's top to the highest bar's top, in amber.
  const [a, b] = [BARS[0], BARS[BARS.length - 1]];
  const ax = (a.left + a.right) / 2;
  const bx = (b.left + b.right) / 2;
  const along = (x - ax) / (bx - ax);
  if (along >= -0.08 && along <= 1.08) {
    const lineY = a.top - 0.07 + along * (b.top - a.top);
    if (Math.abs(y - lineY) < 0.018) color = [1, 0.68, 0.16, 1];
  }
  return color;
}

function drawIcon(size = SIZE) {
  const rgba = Buffer.alloc(size * size * 4);
  const n = SUPER * SUPER;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < SUPER; sy++) {
        for (let sx = 0; sx < SUPER; sx++) {
          const c = sample((px + (sx + 0.5) / SUPER) / size, (py + (sy + 0.5) / SUPER) / size);
          if (!c) continue;
          r += c[0];
          g += c[1];
          b += c[2];
          a += c[3];
        }
      }
      const o = (py * size + px) * 4;
      // Premultiplied sums back to straight alpha.
      rgba[o] = a ? Math.round((r / a) * 255) : 0;
      rgba[o + 1] = a ? Math.round((g / a) * 255) : 0;
      rgba[o + 2] = a ? Math.round((b / a) * 255) : 0;
      rgba[o + 3] = Math.round((a / n) * 255);
    }
  }
  return encodePng(size, size, rgba);
}

const out = new URL('./icon.png', import.meta.url);
writeFileSync(out, drawIcon());
process.stdout.write(`wrote ${out.pathname}\n`);
