/**
 * Errors that need an endpoint to answer (issue 15's unclear errors): `verify --against` names
 * --against, not --source; a server's text and promvault's hint end in one period each; a
 * source that is down is a failure (exit 1), one that refuses the URL is bad input (exit 2).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { runCli } from '../harness/cli';
import { makeTempDir, removeDir } from '../harness/ports';

let server: Server;
let base: string;
let work: string;

beforeAll(async () => {
  work = await makeTempDir('unclear-errors');
  // /down/… answers 503, /auth/… 401, anything else 404 -- as a proxy in front of Prometheus might.
  server = createServer((req, res) => {
    req.resume();
    const status = req.url?.startsWith('/down/') ? 503 : req.url?.startsWith('/auth/') ? 401 : 404;
    res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status === 401 ? 'Unauthorized.' : 'nope.');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (work) await removeDir(work);
});

const verifyAgainst = (url: string) => runCli(['verify', '--store', path.join(work, 'store'), '--against', url]);

it('verify --against a source that is down: exit 1, and the fix names --against', async () => {
  const res = await verifyAgainst(`${base}/down`);
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/cannot reach Prometheus at .*\/down\/api\/v1\/read: HTTP 503.*\. Check --against \(/);
  expect(res.stderr).not.toContain('--source');
});

it('verify --against a URL that serves no remote read: exit 2, one period per sentence', async () => {
  const res = await verifyAgainst(base);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('--against must point at Prometheus');
  expect(res.stderr).not.toMatch(/\.\./);
});

it('backup from a source that refuses the credentials: exit 2, the hint once, no ".."', async () => {
  const res = await runCli([
    'backup',
    '--source',
    `${base}/auth`,
    '--store',
    path.join(work, 'never'),
    '--from',
    '2026-01-01T00:00:00Z',
    '--to',
    '2026-01-01T01:00:00Z',
  ]);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('HTTP 401');
  expect(res.stderr.match(/Check the credentials/g)).toHaveLength(1);
  expect(res.stderr).not.toMatch(/\.\./);
});
