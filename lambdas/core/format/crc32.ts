/** CRC-32 (IEEE 802.3, as zlib and gzip compute it). */
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function crc32Js(data: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  const t = table;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type Crc32 = (data: Uint8Array) => number;
// zlib.crc32 exists from Node 20.15 / 22.2 on; older runtimes use the table version.
const native = (zlib as unknown as { crc32?: Crc32 }).crc32;

export const crc32: Crc32 = typeof native === 'function' ? (data) => native(data) >>> 0 : crc32Js;

/** Exposed for tests: the portable implementation. */
export const crc32Portable: Crc32 = crc32Js;
