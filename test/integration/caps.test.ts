/**
 * Every response body is read with a cap. A source that only offers SAMPLES remote read (no
 * streaming) answers a shard with one message held whole in memory: larger than
 * --max-response-bytes, the shard fails (exit 1) naming the endpoint, the window and the setting,
 * and nothing more than the cap is buffered.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeReadRequest, encodeReadResponse } from '../harness/prompb-server';
import { snappyCompress, snappyUncompress } from '../../lambdas/core/prom/snappy';
import { CONTENT_TYPE_PROTOBUF } from '../../lambdas/core/prom/prompb';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';

const FROM_MS = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;
const SAMPLES_PER_READ = 2000;

let server: Server;
let url: string;
let work: string;

beforeAll(async () => {
  // A SAMPLES-only remote-read server: one series, SAMPLES_PER_READ samples in any window read
  // (none for the CLI's 1 ms source check), values that do not compress.
  server = createServer((req, res) => {
    // Remote read only: /api/v1/metadata and the rest are not served.
    if (!req.url?.startsWith('/api/v1/read')) {
      res.writeHead(404).end('404 page not found');
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const query = decodeReadRequest(snappyUncompress(Buffer.concat(parts))).queries[0]!;
      const span = query.endTimestampMs + 1 - query.startTimestampMs;
      const n = span > 1000 ? SAMPLES_PER_READ : 0;
      const timestamps = Float64Array.from(
        { length: n },
        (_, i) => query.startTimestampMs + Math.floor((i * span) / n),
      );
      const values = Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 1e6 + i / 7);
      const series = n > 0 ? [{ labels: [{ name: '__name__', value: 'big' }], timestamps, values }] : [];
      res.writeHead(200, { 'Content-Type': CONTENT_TYPE_PROTOBUF, 'Content-Encoding': 'snappy' });
      res.end(snappyCompress(encodeReadResponse([series])));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  work = await makeTempDir('caps-test');
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (work) await removeDir(work);
});

const backup = (store: string, ...extra: string[]) =>
  runCli([
    'backup',
    '--source',
    url,
    '--source-name',
    'samples',
    '--store',
    `${work}/${store}`,
    '--from',
    String(FROM_MS / 1000),
    '--to',
    String((FROM_MS + HOUR) / 1000),
    '--retries',
    '0',
    '--json',
    ...extra,
  ]);

describe('a SAMPLES remote-read answer larger than --max-response-bytes', () => {
  it('fails the shard (exit 1) naming the endpoint, the window and the setting', async () => {
    const res = await backup('capped', '--max-response-bytes', '4096');
    expect(res.code).toBe(1);
    expect(res.json).toMatchObject({ shards: 1, committed: 0, failed: 1 });
    const [failure] = (res.json as { failures: { error: string }[] }).failures;
    expect(failure!.error).toContain(`ResponseTooLargeError: remote read from ${url}/api/v1/read for [`);
    expect(failure!.error).toContain('the SAMPLES answer is larger than 4 KiB');
    expect(failure!.error).toMatch(/--shard-length.*--max-response-bytes/);
    expect(failure!.error).toContain('(shard [2024-01-01T00:00:00Z, 2024-01-01T01:00:00Z))');
  });

  it('under the default cap the same shard is backed up', async () => {
    const res = await backup('default');
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ shards: 1, committed: 1, samples: SAMPLES_PER_READ });
  });

  it('--max-response-bytes must be a whole number of bytes', async () => {
    const res = await backup('bad', '--max-response-bytes', '1e3x');
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--max-response-bytes 1e3x must be a whole number of bytes/);
  });
});
