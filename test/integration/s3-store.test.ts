import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../lambdas/adapters/s3-store';
import { openStore } from '../../lambdas/adapters/open-store';
import { InputError, ObjectNotFoundError, PermanentError, TransientError } from '../../lambdas/core/errors';
import { mapPool } from '../../lambdas/core/pool';
import { s3rverClient, startS3rver, type S3rverHandle } from '../harness/s3rver';

// jest 29 ignores testTimeout inside a project entry of jest.config.js.
jest.setTimeout(120_000);

const BUCKET = 'promvault-it';
const MiB = 1024 * 1024;

async function* chunks(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Deterministic pseudo-random bytes, 64 KiB at a time, `total` in all; fails after `failAfter` bytes if given. */
async function* pseudoRandom(total: number, failAfter?: number): AsyncGenerator<Uint8Array> {
  let seed = createHash('sha256').update('promvault').digest();
  let sent = 0;
  while (sent < total) {
    if (failAfter !== undefined && sent >= failAfter) throw new Error('body failed midway');
    const block = Buffer.alloc(Math.min(64 * 1024, total - sent));
    for (let off = 0; off < block.length; off += 32) {
      seed = createHash('sha256').update(seed).digest();
      seed.copy(block, off);
    }
    sent += block.length;
    yield block;
  }
}

async function sha256Of(it: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of it) {
    h.update(c);
    size += c.byteLength;
  }
  return { sha256: h.digest('hex'), size };
}

async function bucketKeys(client: S3Client, prefix: string): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

describe('S3Store against s3rver', () => {
  let s3: S3rverHandle;
  let store: S3Store;

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    store = new S3Store({ bucket: BUCKET, prefix: 'backups/prod/', client: s3.client, endpoint: s3.endpoint });
  });

  afterAll(async () => {
    await s3?.stop();
  });

  test('location and key mapping: prefix + "/" + key, no double slashes', async () => {
    expect(store.location).toBe(`s3://${BUCKET}/backups/prod`);
    expect(store.objectKey('a/b.json')).toBe('backups/prod/a/b.json');
    await store.put('map/x.txt', chunks('x'));
    expect(await bucketKeys(s3.client, 'backups/prod/map/')).toEqual(['backups/prod/map/x.txt']);
    const root = new S3Store({ bucket: BUCKET, client: s3.client });
    expect(root.location).toBe(`s3://${BUCKET}`);
    expect(root.objectKey('k')).toBe('k');
  });

  test.each(['', '/abs', 'a//b', '../x', 'a/./b', 'a\\b'])('rejects the key %j', (key) => {
    expect(() => store.objectKey(key)).toThrow(InputError);
  });

  test('check() passes on an existing bucket', async () => {
    await expect(store.check()).resolves.toBeUndefined();
  });

  test('checkReadable() passes with one listing of one key: s3:ListBucket is all it needs', async () => {
    const sent: string[] = [];
    const send = s3.client.send.bind(s3.client);
    const spy = jest.spyOn(s3.client, 'send').mockImplementation(((command: object) => {
      sent.push(command.constructor.name);
      return send(command as never);
    }) as never);
    try {
      await expect(store.checkReadable()).resolves.toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    expect(sent).toEqual(['ListObjectsV2Command']);
  });

  test('put, get, head, delete round trip with size and SHA-256', async () => {
    const body = 'hello, promvault\n';
    const put = await store.put('rt/hello.txt', chunks('hello, ', '', 'promvault\n'));
    expect(put).toEqual({ size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    expect((await readAll(store.get('rt/hello.txt'))).toString()).toBe(body);
    expect(await store.head('rt/hello.txt')).toEqual({ key: 'rt/hello.txt', size: body.length });
    await store.delete('rt/hello.txt');
    expect(await store.head('rt/hello.txt')).toBeUndefined();
    await expect(readAll(store.get('rt/hello.txt'))).rejects.toBeInstanceOf(ObjectNotFoundError);
    // Deleting a missing key is not an error.
    await expect(store.delete('rt/hello.txt')).resolves.toBeUndefined();
  });

  test('an empty body stores an empty object', async () => {
    const put = await store.put('rt/empty', chunks());
    expect(put).toEqual({ size: 0, sha256: createHash('sha256').digest('hex') });
    expect(await store.head('rt/empty')).toEqual({ key: 'rt/empty', size: 0 });
    expect((await readAll(store.get('rt/empty'))).length).toBe(0);
  });

  test('put replaces an existing object', async () => {
    await store.put('rt/replace', chunks('old'));
    await store.put('rt/replace', chunks('new!'));
    expect((await readAll(store.get('rt/replace'))).toString()).toBe('new!');
  });

  test('list paginates past 1000 keys, in lexicographic order, relative to the prefix', async () => {
    const keys = Array.from({ length: 1234 }, (_, i) => `many/${String(i).padStart(5, '0')}-${i % 7}.json`);
    await mapPool(keys, 16, (k) => store.put(k, chunks(k)));
    // Neighbours that must not show up under the prefix.
    await store.put('many-not/x', chunks('x'));
    await store.put('man', chunks('x'));

    const send = jest.spyOn(s3.client, 'send');
    let listed;
    try {
      listed = await collect(store.list('many/'));
      const lists = send.mock.calls.filter(([command]) => command instanceof ListObjectsV2Command);
      // Two pages: the second needs s3rver's continuation token (see the DES workaround in the harness).
      expect(lists.length).toBe(2);
      expect((lists[1]![0] as ListObjectsV2Command).input.ContinuationToken).toEqual(expect.any(String));
    } finally {
      send.mockRestore();
    }
    expect(listed.length).toBe(1234);
    expect(listed.map((o) => o.key)).toEqual([...keys].sort());
    expect(listed[0]).toEqual({ key: keys[0], size: keys[0]!.length });

    // A prefix that is not a "directory".
    const partial = await collect(store.list('many/0001'));
    expect(partial.map((o) => o.key)).toEqual(keys.filter((k) => k.startsWith('many/0001')));
    expect(await collect(store.list('nothing-here/'))).toEqual([]);
  });

  test('streams a ~20 MB object as a multipart upload with the bytes intact', async () => {
    const total = 20 * MiB + 12345;
    const expected = await sha256Of(pseudoRandom(total));
    const send = jest.spyOn(s3.client, 'send');
    try {
      const put = await store.put('big/object.bin', pseudoRandom(total));
      expect(put).toEqual(expected);
      const names = send.mock.calls.map(([command]) => (command as object).constructor.name);
      expect(names).toContain('CreateMultipartUploadCommand');
      expect(names.filter((n) => n === 'UploadPartCommand').length).toBe(Math.ceil(total / (5 * MiB)));
      expect(names).toContain('CompleteMultipartUploadCommand');
    } finally {
      send.mockRestore();
    }
    expect(await store.head('big/object.bin')).toEqual({ key: 'big/object.bin', size: total });
    expect(await sha256Of(store.get('big/object.bin'))).toEqual(expected);
  });

  test('a body that throws in a small (single PutObject) upload leaves no object', async () => {
    await expect(store.put('fail/small', pseudoRandom(3 * MiB, 1 * MiB))).rejects.toThrow('body failed midway');
    expect(await store.head('fail/small')).toBeUndefined();
    expect(await bucketKeys(s3.client, 'backups/prod/fail/small')).toEqual([]);
  });

  test('a body that throws midway through a multipart upload leaves no object and keeps the old one', async () => {
    await store.put('fail/big', chunks('the old object'));
    const send = jest.spyOn(s3.client, 'send');
    try {
      // Fails after two 5 MiB parts have been uploaded.
      await expect(store.put('fail/big', pseudoRandom(30 * MiB, 12 * MiB))).rejects.toThrow('body failed midway');
      const names = send.mock.calls.map(([command]) => (command as object).constructor.name);
      expect(names).toContain('UploadPartCommand');
      expect(names).not.toContain('CompleteMultipartUploadCommand');
      expect(names).toContain('AbortMultipartUploadCommand');
    } finally {
      send.mockRestore();
    }
    expect((await readAll(store.get('fail/big'))).toString()).toBe('the old object');

    await expect(store.put('fail/new-big', pseudoRandom(30 * MiB, 12 * MiB))).rejects.toThrow('body failed midway');
    expect(await store.head('fail/new-big')).toBeUndefined();
    expect(await bucketKeys(s3.client, 'backups/prod/fail/new-big')).toEqual([]);
  });

  test('a missing bucket gives a clear message from check(), head() and put()', async () => {
    const missing = new S3Store({ bucket: 'no-such-bucket', prefix: 'p', client: s3.client, endpoint: s3.endpoint });
    const message = 'bucket no-such-bucket does not exist: create it or fix --store';
    await expect(missing.check()).rejects.toThrow(message);
    await expect(missing.check()).rejects.toBeInstanceOf(PermanentError);
    await expect(missing.checkReadable()).rejects.toThrow(message);
    await expect(missing.head('k')).rejects.toThrow(message);
    await expect(missing.put('k', chunks('x'))).rejects.toThrow(message);
    await expect(readAll(missing.get('k'))).rejects.toThrow(message);
    await expect(collect(missing.list(''))).rejects.toThrow(message);
  });

  test('an unreachable endpoint says so', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const client = s3rverClient(endpoint);
    try {
      const dead = new S3Store({ bucket: BUCKET, client, endpoint });
      const err = await dead.check().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).message).toContain(`cannot reach S3 endpoint ${endpoint}`);
    } finally {
      client.destroy();
    }
  });

  test('objects written by other S3 clients are read back byte for byte (no aws-chunked framing)', async () => {
    await s3.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'backups/prod/ext/raw', Body: Buffer.from('raw bytes') }),
    );
    expect((await readAll(store.get('ext/raw'))).toString()).toBe('raw bytes');
  });

  test('openStore builds an S3Store from s3:// URLs', async () => {
    const opened = openStore(`s3://${BUCKET}/backups//prod/`, { s3Client: s3.client, s3Endpoint: s3.endpoint });
    expect(opened).toBeInstanceOf(S3Store);
    expect(opened.location).toBe(`s3://${BUCKET}/backups/prod`);
    await opened.put('open/x', chunks('via openStore'));
    expect((await readAll(store.get('open/x'))).toString()).toBe('via openStore');
  });
});
