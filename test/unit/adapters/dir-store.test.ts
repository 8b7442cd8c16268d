import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DirectoryStore } from '../../../lambdas/adapters/dir-store';
import { openStore, parseStoreUrl } from '../../../lambdas/adapters/open-store';
import { InputError, ObjectNotFoundError, PermanentError } from '../../../lambdas/core/errors';

async function* chunks(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function readAll(it: AsyncIterable<Uint8Array>): Promise<string> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out).toString();
}

async function keys(store: DirectoryStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** Every file under `dir`, relative, including hidden ones. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath ?? e.path, e.name)));
  }
  return out.sort();
}

describe('DirectoryStore', () => {
  let dir: string;
  let store: DirectoryStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'promvault-dir-'));
    store = new DirectoryStore(dir);
  });
  afterEach(async () => {
    await chmod(dir, 0o755).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  test('location is the absolute root', () => {
    expect(store.location).toBe(dir);
    expect(new DirectoryStore('relative/x').location).toBe(path.resolve('relative/x'));
  });

  test('put, get, head, delete round trip with size and SHA-256', async () => {
    const put = await store.put('shards/prod/2026/11/21/a.pvs', chunks('hello ', '', 'world'));
    expect(put).toEqual({ size: 11, sha256: createHash('sha256').update('hello world').digest('hex') });
    expect(await readFile(path.join(dir, 'shards/prod/2026/11/21/a.pvs'), 'utf8')).toBe('hello world');
    expect(await readAll(store.get('shards/prod/2026/11/21/a.pvs'))).toBe('hello world');
    expect(await store.head('shards/prod/2026/11/21/a.pvs')).toEqual({ key: 'shards/prod/2026/11/21/a.pvs', size: 11 });
    await store.delete('shards/prod/2026/11/21/a.pvs');
    expect(await store.head('shards/prod/2026/11/21/a.pvs')).toBeUndefined();
    // Empty directories are pruned up to (not including) the root.
    expect(await readdir(dir)).toEqual([]);
    await expect(store.delete('shards/prod/2026/11/21/a.pvs')).resolves.toBeUndefined();
  });

  test('delete keeps directories that still hold objects', async () => {
    await store.put('a/b/one', chunks('1'));
    await store.put('a/two', chunks('2'));
    await store.delete('a/b/one');
    expect(await keys(store, '')).toEqual(['a/two']);
    expect(await readdir(path.join(dir, 'a'))).toEqual(['two']);
  });

  test('an empty body stores an empty object', async () => {
    expect(await store.put('empty', chunks())).toEqual({ size: 0, sha256: createHash('sha256').digest('hex') });
    expect(await store.head('empty')).toEqual({ key: 'empty', size: 0 });
  });

  test('a multi-megabyte body in many chunks', async () => {
    const block = Buffer.alloc(64 * 1024, 7);
    const hash = createHash('sha256');
    async function* body() {
      for (let i = 0; i < 64; i++) {
        block[0] = i;
        hash.update(block);
        yield Buffer.from(block);
      }
    }
    const put = await store.put('big', body());
    expect(put).toEqual({ size: 64 * 64 * 1024, sha256: hash.digest('hex') });
    const back = createHash('sha256');
    for await (const c of store.get('big')) back.update(c);
    expect(back.digest('hex')).toBe(put.sha256);
  });

  test('put replaces an existing object', async () => {
    await store.put('k', chunks('old'));
    await store.put('k', chunks('new!'));
    expect(await readAll(store.get('k'))).toBe('new!');
  });

  test('a put whose body throws midway leaves no object, no temp file, and the old object intact', async () => {
    const boom = new Error('source died');
    async function* failing() {
      yield Buffer.from('partial data ');
      yield Buffer.from('more data');
      throw boom;
    }
    // No previous object: nothing appears.
    await expect(store.put('x/new', failing())).rejects.toBe(boom);
    expect(await store.head('x/new')).toBeUndefined();
    expect(await keys(store, '')).toEqual([]);

    // A previous object: untouched.
    await store.put('x/old', chunks('the old object'));
    await expect(store.put('x/old', failing())).rejects.toBe(boom);
    expect(await readAll(store.get('x/old'))).toBe('the old object');
    expect(await filesUnder(dir)).toEqual(['x/old']);
  });

  test('while a put is in flight, readers see the old object and no temp file', async () => {
    await store.put('k', chunks('old'));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const midway = new Promise<void>((resolve) => (reached = resolve));
    async function* slow() {
      yield Buffer.from('new ');
      reached();
      await gate;
      yield Buffer.from('object');
    }
    const pending = store.put('k', slow());
    await midway;
    expect(await readAll(store.get('k'))).toBe('old');
    expect(await keys(store, '')).toEqual(['k']);
    expect((await readdir(dir)).some((n) => n.startsWith('.k.tmp-'))).toBe(true);
    release();
    await pending;
    expect(await readAll(store.get('k'))).toBe('new object');
    expect(await readdir(dir)).toEqual(['k']);
  });

  test('a file-system failure is a PermanentError naming key and directory', async () => {
    await store.put('file', chunks('x'));
    let returned = false;
    async function* body() {
      try {
        yield Buffer.from('data');
      } finally {
        returned = true;
      }
    }
    const err = await store.put('file/below', body()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain(`file/below in ${dir}`);
    expect(returned).toBe(false); // never started: the directory could not be created
    expect(await readAll(store.get('file'))).toBe('x');
  });

  test('get of a missing key rejects with ObjectNotFoundError', async () => {
    await expect(readAll(store.get('nope'))).rejects.toBeInstanceOf(ObjectNotFoundError);
    await mkdir(path.join(dir, 'adir'));
    await expect(readAll(store.get('adir'))).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await store.head('adir')).toBeUndefined();
    expect(await store.head('nope/deeper')).toBeUndefined();
  });

  test('list walks in lexicographic (byte) order of full keys', async () => {
    // '-' (0x2d) < '/' (0x2f) < '0' (0x30): a naive directory walk would put a/... before a-c.
    const all = ['b', 'a0', 'a/c/d', 'a-c', 'a/b', 'ab', 'a.d', 'A', 'a/c-e', 'a/c0'];
    for (const k of all) await store.put(k, chunks(k));
    expect(await keys(store, '')).toEqual([...all].sort());
    const sizes = [];
    for await (const o of store.list('a/')) sizes.push(o);
    expect(sizes).toEqual([
      { key: 'a/b', size: 3 },
      { key: 'a/c-e', size: 5 },
      { key: 'a/c/d', size: 5 },
      { key: 'a/c0', size: 4 },
    ]);
  });

  test('list filters by any prefix, not only directories', async () => {
    for (const k of [
      'manifests/prod/2026/11/21/x.json',
      'manifests/prod/2026/11/22/y.json',
      'manifests/prod2/a.json',
      'm',
    ]) {
      await store.put(k, chunks('{}'));
    }
    expect(await keys(store, 'manifests/prod/')).toEqual([
      'manifests/prod/2026/11/21/x.json',
      'manifests/prod/2026/11/22/y.json',
    ]);
    expect(await keys(store, 'manifests/prod')).toEqual([
      'manifests/prod/2026/11/21/x.json',
      'manifests/prod/2026/11/22/y.json',
      'manifests/prod2/a.json',
    ]);
    expect(await keys(store, 'manifests/prod/2026/11/2')).toEqual([
      'manifests/prod/2026/11/21/x.json',
      'manifests/prod/2026/11/22/y.json',
    ]);
    expect(await keys(store, 'manifests/prod/2026/11/21/x.json')).toEqual(['manifests/prod/2026/11/21/x.json']);
    expect(await keys(store, 'nothing/')).toEqual([]);
    expect(await keys(store, 'm')).toHaveLength(4);
  });

  test('list skips temporary files', async () => {
    await store.put('d/real', chunks('1'));
    await writeFile(path.join(dir, 'd', '.real.tmp-0123456789ab'), 'partial');
    await writeFile(path.join(dir, '.x.tmp-abcdefabcdef'), 'partial');
    expect(await keys(store, '')).toEqual(['d/real']);
  });

  test.each(['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', 'a\\b', '.k.tmp-0123456789ab', 'd/..'])(
    'rejects the key %j',
    async (key) => {
      await expect(store.put(key, chunks('x'))).rejects.toBeInstanceOf(InputError);
      expect(() => store.get(key)).toThrow(InputError);
      await expect(store.head(key)).rejects.toBeInstanceOf(InputError);
      await expect(store.delete(key)).rejects.toBeInstanceOf(InputError);
    },
  );

  test.each(['/', '../', 'a/../../'])('rejects the list prefix %j', async (prefix) => {
    await expect(keys(store, prefix)).rejects.toBeInstanceOf(InputError);
  });

  test('check() creates a missing root', async () => {
    const nested = new DirectoryStore(path.join(dir, 'new', 'root'));
    await nested.check();
    expect((await stat(path.join(dir, 'new', 'root'))).isDirectory()).toBe(true);
    expect(await readdir(path.join(dir, 'new', 'root'))).toEqual([]);
  });

  test('check() explains a root that is a file', async () => {
    await writeFile(path.join(dir, 'plain'), 'x');
    await expect(new DirectoryStore(path.join(dir, 'plain')).check()).rejects.toThrow(PermanentError);
    await expect(new DirectoryStore(path.join(dir, 'plain', 'below')).check()).rejects.toThrow(
      /cannot create the store directory/,
    );
  });

  test('checkReadable() creates nothing and names a missing root as a store without backups', async () => {
    const missing = path.join(dir, 'typo');
    const err = await new DirectoryStore(missing).checkReadable().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `store directory ${missing} does not exist, so it holds no promvault backups: check --store`,
    );
    await expect(stat(missing)).rejects.toThrow(/ENOENT/);
  });

  test('checkReadable() and check() explain a root that is a file', async () => {
    await writeFile(path.join(dir, 'plain'), 'x');
    const file = new DirectoryStore(path.join(dir, 'plain'));
    await expect(file.checkReadable()).rejects.toThrow(/is a file, not a directory: --store takes the directory/);
    await expect(file.check()).rejects.toThrow(/is a file, not a directory: give a directory as --store/);
  });

  /** A directory this user cannot write. Root ignores permission bits, but nobody may create files in /proc. */
  async function withReadOnlyDir(use: (ro: string) => Promise<void>): Promise<void> {
    const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const ro = asRoot ? '/proc/self' : path.join(dir, 'ro');
    if (!asRoot) {
      await mkdir(ro);
      await chmod(ro, 0o555);
    }
    try {
      await use(ro);
    } finally {
      if (!asRoot) await chmod(ro, 0o755);
    }
  }

  test('checkReadable() passes a directory nobody may write, and writes nothing in it', async () => {
    await withReadOnlyDir(async (ro) => {
      const before = await readdir(ro);
      await new DirectoryStore(ro).checkReadable();
      expect(await readdir(ro)).toEqual(before);
    });
  });

  test('check() explains a root that is not writable', async () => {
    await withReadOnlyDir(async (ro) => {
      await expect(new DirectoryStore(ro).check()).rejects.toThrow(
        `store directory ${ro} is not writable by this user`,
      );
    });
  });
});

describe('parseStoreUrl / openStore', () => {
  test.each([
    ['/var/backups', { kind: 'dir', path: '/var/backups' }],
    ['./backups', { kind: 'dir', path: './backups' }],
    ['file:///var/backups', { kind: 'dir', path: '/var/backups' }],
    ['s3://my-bucket', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my-bucket/', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my-bucket/promvault/prod/', { kind: 's3', bucket: 'my-bucket', prefix: 'promvault/prod' }],
    ['s3://my-bucket//a//b', { kind: 's3', bucket: 'my-bucket', prefix: 'a/b' }],
    ['S3://my.bucket.example/x', { kind: 's3', bucket: 'my.bucket.example', prefix: 'x' }],
  ])('%s', (text, expected) => {
    expect(parseStoreUrl(text)).toEqual(expected);
  });

  test('unknown schemes are named', () => {
    expect(() => parseStoreUrl('gs://bucket/x')).toThrow(
      new InputError("unknown store scheme 'gs://': use a directory path or s3://bucket/prefix"),
    );
  });

  test.each(['', 's3://', 's3://UPPER', 's3://a', 's3://bad_name/x', 's3://a..b/x', 'file://relative'])(
    'rejects %j',
    (text) => {
      expect(() => parseStoreUrl(text)).toThrow(InputError);
    },
  );

  test('openStore opens directories', () => {
    const s = openStore('/tmp/promvault-x');
    expect(s).toBeInstanceOf(DirectoryStore);
    expect(s.location).toBe('/tmp/promvault-x');
  });
});
