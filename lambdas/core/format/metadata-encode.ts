/**
 * The metadata record (format version 2): `# TYPE`, `# HELP` and `# UNIT` of the metric families
 * whose first series is in the block that follows it. See docs/FORMAT.md §2.4.
 */
import { METRIC_TYPES, type MetricMetadata } from '../types';
import { RECORD_METADATA } from './block-format';
import { ByteWriter } from './bytes';
import { crc32 } from './crc32';

// Lone surrogates (not representable in UTF-8) become U+FFFD: metadata is text for people.
const utf8 = new TextEncoder();

function text(w: ByteWriter, s: string): void {
  const bytes = utf8.encode(s);
  w.uvarint(bytes.length);
  w.bytes(bytes);
}

export function encodeMetadataRecord(entries: readonly MetricMetadata[]): Uint8Array {
  const body = new ByteWriter(256);
  body.uvarint(entries.length);
  for (const e of entries) {
    text(body, e.metricFamilyName);
    body.u8(METRIC_TYPES.indexOf(e.type));
    text(body, e.help);
    text(body, e.unit);
  }
  const bytes = body.view();
  const rec = new ByteWriter(bytes.length + 16);
  rec.u8(RECORD_METADATA);
  rec.uvarint(bytes.length);
  rec.u32le(crc32(bytes));
  rec.bytes(bytes);
  return rec.view().slice();
}
