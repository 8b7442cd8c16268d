/** Reads the body of a metadata record (format version 2). See docs/FORMAT.md §2.4. */
import { METRIC_TYPES, type MetricMetadata } from '../types';
import { ByteReader, corrupt } from './bytes';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function text(r: ByteReader): string {
  const bytes = r.take(r.uvarint());
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw corrupt('metadata text is not UTF-8');
  }
}

/** The entries of a metadata record body; `seen` holds the family names of earlier records. */
export function decodeMetadataBody(body: Uint8Array, seen: Set<string>): MetricMetadata[] {
  const r = new ByteReader(body, 0, body.length, 'metadata record');
  const n = r.uvarint();
  const out: MetricMetadata[] = [];
  for (let i = 0; i < n; i++) {
    const metricFamilyName = text(r);
    const typeId = r.u8();
    const type = METRIC_TYPES[typeId];
    if (type === undefined) throw corrupt(`metadata of ${JSON.stringify(metricFamilyName)} has unknown type ${typeId}`);
    const help = text(r);
    const unit = text(r);
    if (seen.has(metricFamilyName)) throw corrupt(`metadata of ${JSON.stringify(metricFamilyName)} appears twice`);
    seen.add(metricFamilyName);
    out.push({ metricFamilyName, type, help, unit });
  }
  if (!r.atEnd()) throw corrupt('bytes after the last metadata entry');
  return out;
}
