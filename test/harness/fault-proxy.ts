/**
 * A fault-injecting HTTP proxy on 127.0.0.1, in front of any real server (Prometheus remote read,
 * the S3 server, a remote-write target). Each request is shown to `rule`, which says what to do
 * with it: pass it on, answer a status itself, wait first, or pass it on and then damage the
 * answer (reset or truncate it mid-body, corrupt the CRC of the first remote-read frame). A rule
 * may also act on the world before answering (SIGKILL a process, kill the upstream). Headers,
 * the Host header included (S3 signatures cover it), are forwarded unchanged. The upstream can
 * be switched while running (a restarted server on a new port).
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, as received. */
  readonly url: string;
  /** 1-based count of requests seen by the proxy since the last reset. */
  readonly index: number;
  readonly body: Buffer;
}

export type FaultAction =
  | { readonly kind: 'pass' }
  /** Answer this status with this body, never reaching the upstream. */
  | { readonly kind: 'status'; readonly status: number; readonly body?: string; readonly contentType?: string }
  /** Wait, then pass on (an upstream slower than the client's timeout). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Pass on; send the headers and half the answer's body, then a TCP reset. */
  | { readonly kind: 'reset-mid-body' }
  /** Pass on; announce the full length, send half the body, then close cleanly (FIN). */
  | { readonly kind: 'truncate-body' }
  /** Pass on; keep the whole streamed remote-read frames in the first half of the body, end cleanly. */
  | { readonly kind: 'cut-at-frame-boundary' }
  /** Pass on; flip the bits of the CRC-32C of the first streamed remote-read frame. */
  | { readonly kind: 'corrupt-frame-crc' }
  /** Pass on, then reset the connection instead of answering: the write landed, the client cannot know. */
  | { readonly kind: 'drop-answer' }
  /** Reset the connection instead of forwarding the request: an upload lost on the way. */
  | { readonly kind: 'reset-request' };

export type FaultRule = (req: ProxiedRequest) => FaultAction | Promise<FaultAction>;

export const PASS: FaultAction = { kind: 'pass' };

export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** Requests seen since the last setRule. */
  readonly requests: number;
  /** Faults applied (actions other than pass) since the last setRule. */
  readonly injected: number;
  /** Where requests go from now on, e.g. a restarted server's new origin. */
  setUpstream(origin: string): void;
  /** The rule for requests from now on; resets the counters. */
  setRule(rule: FaultRule): void;
  stop(): Promise<void>;
}

/** The answer of the upstream, read whole. */
interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

function forward(upstream: URL, req: IncomingMessage, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () =>
          resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }),
        );
        answer.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

/** Reads an unsigned varint at `offset`: [value, bytes used]. */
function uvarint(bytes: Buffer, offset: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = offset; i < bytes.length && i < offset + 5; i++) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if ((bytes[i]! & 0x80) === 0) return [value, i - offset + 1];
    shift += 7;
  }
  throw new Error('no varint at the start of the remote-read answer');
}

/** The answer with the CRC of its first frame inverted (frame: uvarint length, CRC-32C big-endian, message). */
function corruptFirstFrameCrc(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  const [, used] = uvarint(copy, 0);
  for (let i = used; i < used + 4 && i < copy.length; i++) copy[i] = copy[i]! ^ 0xff;
  return copy;
}

/** The whole frames (uvarint length, 4-byte CRC, message) that end in the first half of the body. */
function framesInFirstHalf(body: Buffer): Buffer {
  let end = 0;
  while (end < body.length) {
    const [length, used] = uvarint(body, end);
    const next = end + used + 4 + length;
    if (next > body.length / 2) break;
    end = next;
  }
  return body.subarray(0, end);
}

function sendWhole(res: ServerResponse, answer: Answer, body: Buffer): void {
  const headers = { ...answer.headers };
  delete headers['transfer-encoding'];
  headers['content-length'] = String(body.length);
  res.writeHead(answer.status, headers);
  res.end(body);
}

/** Headers announcing the whole body, then half of it, then `finish` on the socket. */
function sendHalf(res: ServerResponse, answer: Answer, finish: (socket: Socket) => void): void {
  const headers = { ...answer.headers };
  delete headers['transfer-encoding'];
  headers['content-length'] = String(answer.body.length);
  res.writeHead(answer.status, headers);
  res.write(answer.body.subarray(0, Math.floor(answer.body.length / 2)), () => {
    if (res.socket) finish(res.socket);
  });
}

export async function startFaultProxy(upstreamOrigin: string): Promise<FaultProxy> {
  let upstream = new URL(upstreamOrigin);
  let rule: FaultRule = () => PASS;
  let requests = 0;
  let injected = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const index = ++requests;
    const action = await rule({ method: req.method ?? 'GET', url: req.url ?? '/', index, body });
    if (action.kind !== 'pass') injected++;
    switch (action.kind) {
      case 'status':
        res.writeHead(action.status, { 'content-type': action.contentType ?? 'text/plain' });
        res.end(action.body ?? `injected ${action.status}`);
        return;
      case 'reset-request':
        req.socket.resetAndDestroy();
        return;
      case 'delay':
        await new Promise((resolve) => setTimeout(resolve, action.ms));
        break;
      default:
        break;
    }
    if (res.destroyed || req.socket.destroyed) return;
    const answer = await forward(upstream, req, body);
    switch (action.kind) {
      case 'reset-mid-body':
        sendHalf(res, answer, (socket) => socket.resetAndDestroy());
        return;
      case 'truncate-body':
        sendHalf(res, answer, (socket) => socket.end());
        return;
      case 'drop-answer':
        req.socket.resetAndDestroy();
        return;
      case 'cut-at-frame-boundary':
        sendWhole(res, answer, answer.status === 200 ? framesInFirstHalf(answer.body) : answer.body);
        return;
      case 'corrupt-frame-crc':
        sendWhole(res, answer, answer.status === 200 ? corruptFirstFrameCrc(answer.body) : answer.body);
        return;
      default:
        sendWhole(res, answer, answer.body);
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    res.on('error', () => undefined);
    req.on('error', () => undefined);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // An upstream that is down (killed) looks to the client like a dropped connection.
      handle(req, res, Buffer.concat(chunks)).catch(() => {
        if (!req.socket.destroyed) req.socket.resetAndDestroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get injected() {
      return injected;
    },
    setUpstream(origin: string) {
      upstream = new URL(origin);
    },
    setRule(next: FaultRule) {
      rule = next;
      requests = 0;
      injected = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A rule that applies `action` to the first `n` requests `matches` picks, and passes everything else. */
export function firstN(n: number, matches: (req: ProxiedRequest) => boolean, action: FaultAction): FaultRule {
  let hits = 0;
  return (req) => (matches(req) && hits++ < n ? action : PASS);
}
