// A static file server for .ova files, over HTTP or HTTPS, behaving like a plain web server
// (nginx/Apache) where it matters to an OVA client: GET and HEAD, single byte ranges (RFC 9110
// §14) with 206/416, Basic auth with 401 + WWW-Authenticate, 404, and optionally 405 for HEAD
// as some object stores and presigned URLs do.
import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ensurePki } from '../../pki.ts';

export interface OvaServerOptions {
  dir: string;
  tls?: boolean;
  basicAuth?: { username: string; password: string };
  /** Answer HEAD with 405 Method Not Allowed. */
  refuseHead?: boolean;
  host?: string;
  port?: number;
  /** Where the CA and server certificate live (default `<dir>/pki`). */
  pkiDir?: string;
}

export interface OvaServer {
  baseUrl: string;
  caCertPem?: string;
  /** Requests served so far: method, path, Range header, status. */
  requests: { method: string; path: string; range?: string; status: number }[];
  stop(): Promise<void>;
}

type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range; multiple ranges are answered with the whole file (allowed by RFC 9110). */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, first, last] = m as unknown as [string, string, string];
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return end < start ? undefined : { start, end };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function authorized(req: IncomingMessage, auth: OvaServerOptions['basicAuth']): boolean {
  if (!auth) return true;
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return false;
  return sameSecret(decoded.slice(0, i), auth.username) && sameSecret(decoded.slice(i + 1), auth.password);
}

export async function startOvaServer(options: OvaServerOptions): Promise<OvaServer> {
  const requests: OvaServer['requests'] = [];
  const host = options.host ?? '127.0.0.1';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const record = (status: number) =>
      requests.push({
        method: req.method ?? '',
        path: url.pathname,
        ...(req.headers.range ? { range: req.headers.range } : {}),
        status,
      });
    const plain = (status: number, text: string, headers: Record<string, string> = {}) => {
      record(status);
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
      res.end(req.method === 'HEAD' ? undefined : `${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return plain(405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    if (!authorized(req, options.basicAuth)) {
      return plain(401, 'Unauthorized', { 'WWW-Authenticate': 'Basic realm="ova", charset="UTF-8"' });
    }
    if (req.method === 'HEAD' && options.refuseHead)
      return plain(405, 'Method Not Allowed', { Allow: 'GET' });

    let name: string;
    try {
      name = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
    } catch {
      return plain(400, 'Bad Request');
    }
    // Only files directly in `dir`: no listings, no traversal.
    if (name === '' || name !== basename(name) || name.startsWith('.')) return plain(404, 'Not Found');
    const path = join(options.dir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return plain(404, 'Not Found');

    const size = info.size;
    const common = {
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/x-tar',
      'Last-Modified': info.mtime.toUTCString(),
    };
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      return plain(416, 'Range Not Satisfiable', { 'Content-Range': `bytes */${size}` });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const status = range ? 206 : 200;
    record(status);
    res.writeHead(status, {
      ...common,
      'Content-Length': String(size === 0 ? 0 : end - start + 1),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    await pipeline(createReadStream(path, { start, end }), res);
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => {
      // Client went away mid-download (normal when a client reads only what it needs).
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  };

  let caCertPem: string | undefined;
  const server = options.tls
    ? await (async () => {
        const pki = await ensurePki(options.pkiDir ?? join(options.dir, 'pki'), [
          'localhost',
          '127.0.0.1',
          host,
        ]);
        caCertPem = pki.caCertPem;
        return createHttpsServer({ cert: pki.certPem, key: pki.keyPem }, listener);
      })()
    : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    baseUrl,
    ...(caCertPem ? { caCertPem } : {}),
    requests,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
