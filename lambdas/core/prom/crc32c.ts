/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as the streamed remote-read framing
 * uses it. Slicing-by-8: eight 256-entry tables, eight input bytes per step.
 */

const POLY = 0x82f63b78;

/** TABLES[k * 256 + b]: the CRC contribution of byte b followed by k zero bytes. */
const TABLES = new Int32Array(8 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLES[b] = c;
}
for (let b = 0; b < 256; b++) {
  let c = TABLES[b]!;
  for (let k = 1; k < 8; k++) {
    c = TABLES[c & 0xff]! ^ (c >>> 8);
    TABLES[k * 256 + b] = c;
  }
}

/**
 * Continues a CRC-32C over bytes[start, end). Start with crc = 0; the result of one call is the
 * `crc` argument of the next, so a message can be checksummed in pieces.
 */
export function crc32c(bytes: Uint8Array, crc = 0, start = 0, end = bytes.length): number {
  const t = TABLES;
  let c = ~crc;
  let i = start;
  // Eight bytes per step, then the tail one byte at a time.
  const end8 = end - ((end - i) & 7);
  while (i < end8) {
    const lo = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t[7 * 256 + (lo & 0xff)]! ^
      t[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      t[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + bytes[i + 4]!]! ^
      t[2 * 256 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
