/**
 * s3rver 3.7.1 ignores If-Match and If-None-Match on PutObject (it honours If-None-Match only on
 * GET), so it cannot show whether promvault's conditional writes hold. This proxy in front of it
 * enforces them as S3 does: a conditional PUT is checked (HEAD of the key) and forwarded under a
 * per-key lock, and answered 412 PreconditionFailed when the object is not the expected version.
 * Everything else passes through unchanged (signatures included: the Host header is kept).
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface ConditionalProxy {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Conditional PUTs refused with 412. */
  readonly refused: () => number;
  stop(): Promise<void>;
}

const PRECONDITION_FAILED =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code>' +
  '<Message>At least one of the pre-conditions you specified did not hold</Message></Error>';

export async function startConditionalProxy(target: string, client: S3Client): Promise<ConditionalProxy> {
  const targetUrl = new URL(target);
  const locks = new Map<string, Promise<void>>();
  let refused = 0;

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse) =>
    new Promise<void>((resolve, reject) => {
      const out = request(
        { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', resolve);
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  /** Whether the stored object satisfies the request's If-Match / If-None-Match. */
  const holds = async (req: IncomingMessage): Promise<boolean> => {
    const [bucket, ...key] = decodeURIComponent(new URL(req.url!, 'http://x').pathname).slice(1).split('/');
    let etag: string | undefined;
    try {
      etag = (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key.join('/') }))).ETag;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw err;
    }
    const ifMatch = req.headers['if-match'];
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch === '*' && etag !== undefined) return false;
    if (ifMatch !== undefined && ifMatch !== etag) return false;
    return true;
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const conditional =
        req.method === 'PUT' && (req.headers['if-match'] !== undefined || req.headers['if-none-match'] !== undefined);
      if (!conditional) {
        forward(req, body, res).catch(() => res.destroy());
        return;
      }
      const path = new URL(req.url!, 'http://x').pathname;
      const previous = locks.get(path) ?? Promise.resolve();
      const run = previous.then(async () => {
        if (await holds(req)) return forward(req, body, res);
        refused++;
        res.writeHead(412, { 'content-type': 'application/xml' }).end(PRECONDITION_FAILED);
      });
      const settled = run.catch(() => {
        res.destroy();
      });
      locks.set(path, settled);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refused: () => refused,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
