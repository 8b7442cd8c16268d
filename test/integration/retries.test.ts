/**
 * The CLI retries a shard that failed transiently, with the state machine's policy (SHARD_RETRY):
 * a real Prometheus behind a proxy that answers 503 or resets the connection for chosen remote
 * reads. A short outage costs a few seconds and no sample; a long one fails the shards (exit 1)
 * naming each shard's window and the endpoint.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';

/** Remote reads only (the first is the CLI's source check): which to break, and how. */
type Fault = (readIndex: number) => '503' | 'reset' | undefined;

interface FlakyProxy {
  readonly url: string;
  /** Remote reads since the last setFault. */
  readonly reads: number;
  setFault(fault: Fault): void;
  stop(): Promise<void>;
}

async function startFlakyProxy(targetUrl: string): Promise<FlakyProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let reads = 0;
  let fault: Fault = () => undefined;
  const server: Server = createServer((req, res) => {
    const injected = req.url?.endsWith('/api/v1/read') ? fault(reads++) : undefined;
    if (injected === 'reset') {
      req.socket.destroy();
      return;
    }
    if (injected === '503') {
      req.resume();
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('injected: service unavailable');
      return;
    }
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get reads() {
      return reads;
    },
    setFault: (f) => {
      fault = f;
      reads = 0;
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let prom: HistoryServer;
let proxy: FlakyProxy;
let work: string;

beforeAll(async () => {
  prom = await startPrometheusWithHistory('integration');
  proxy = await startFlakyProxy(prom.url);
  work = await makeTempDir('retries-test');
});

afterAll(async () => {
  await Promise.all([prom?.stop(), proxy?.stop()]);
  if (work) await removeDir(work);
});

const backupArgs = (store: string) => {
  const from = prom.corpus.startMs;
  return [
    'backup',
    '--source',
    proxy.url,
    '--source-name',
    'prod',
    '--store',
    `${work}/${store}`,
    '--from',
    String(from / 1000),
    '--to',
    String((from + prom.corpus.durationMs) / 1000),
    '--json',
  ];
};

describe('promvault backup through a flaky source', () => {
  it('retries the source check and the shards through 503s and resets: every sample, exit 0', async () => {
    // The source check fails once (read 0; its retry is read 1), then the first three shard reads.
    proxy.setFault((i) => (i === 0 || i === 2 || i === 4 ? '503' : i === 3 ? 'reset' : undefined));
    const res = await runCli(backupArgs('flaky'), { timeoutMs: 120_000 });
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ shards: 6, committed: 6, failed: 0, samples: prom.samples });
    expect(res.stderr).toMatch(/warning: the source check failed \(attempt 1\), retrying in [\d.]+ s: /);
    expect(res.stderr).toMatch(/warning: shard \[\S+, \S+\) failed \(attempt 1\), retrying in [\d.]+ s: /);
    expect(res.stderr).toMatch(/retrying in [\d.]+ s: SourceUnavailableError: .*UND_ERR_SOCKET/);
    // Every fault was met: 2 checks, 6 shards and 3 shard reads retried.
    expect(proxy.reads).toBe(11);
  }, 150_000);

  it('after the retries are spent, fails each shard (exit 1) naming its window, the endpoint and the attempts', async () => {
    // The check passes; every shard read fails.
    proxy.setFault((i) => (i === 0 ? undefined : '503'));
    const res = await runCli([...backupArgs('down'), '--retries', '1'], { timeoutMs: 60_000 });
    expect(res.code).toBe(1);
    expect(res.json).toMatchObject({ shards: 6, committed: 0, failed: 6 });
    const failures = (res.json as { failures: { error: string }[] }).failures;
    for (const f of failures) {
      expect(f.error).toContain(`remote read from ${proxy.url}/api/v1/read`);
      expect(f.error).toMatch(/HTTP 503/);
      expect(f.error).toMatch(/\(shard \[\d{4}-\S+, \d{4}-\S+\), after 2 attempts\)$/);
    }
    // One check and two attempts per shard, no more.
    expect(proxy.reads).toBe(1 + 6 * 2);
  }, 90_000);

  it('--retries must be a whole number from 0 to 20', async () => {
    const res = await runCli([...backupArgs('bad'), '--retries', '-1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--retries -1 must be a whole number from 0 to 20/);
  });
});
