// The per-import disk server: serves this import's converted disks from the scratch volume,
// read-only, under an unguessable path, with Range support:
//   GET /<token>/<diskName>         the form that sends fewer bytes, decided from the file's
//                                   extents: qcow2 (only allocated clusters travel) when less than
//                                   90 % is allocated, raw otherwise (the downloader detects which);
//   GET /<token>/<diskName>.qcow2   always qcow2;   GET /<token>/<diskName>.raw   always raw.
// Anything else is 404 (400 for a path that is not valid percent-encoding, 414 for a URL over
// DISK_SERVER_MAX_URL_LENGTH). The token is compared in constant time; clients that do not send
// their headers within DISK_SERVER_HEADERS_TIMEOUT_MS or move no bytes for
// DISK_SERVER_IDLE_TIMEOUT_MS are disconnected.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { serveDiskFile } from '../shared/disk/serve.ts';
import {
  DISK_SERVER_HEADERS_TIMEOUT_MS,
  DISK_SERVER_IDLE_TIMEOUT_MS,
  DISK_SERVER_MAX_URL_LENGTH,
} from '../shared/limits.ts';
import { createLogger } from '../shared/log.ts';

const DISK_FILE = /^disk-\d+\.(img|raw)$/;

export interface DiskServerOptions {
  scratchDir: string;
  token: string;
  /** Default DISK_SERVER_IDLE_TIMEOUT_MS (tests shorten it). */
  idleTimeoutMs?: number;
  /** Default DISK_SERVER_HEADERS_TIMEOUT_MS. */
  headersTimeoutMs?: number;
}

/** Equal strings, compared in time that does not depend on where they differ (nor their lengths). */
export function tokenMatches(given: string, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/**
 * Maps a request path to the disk file and format it asks for; undefined (→ 404) when it names
 * none, 'malformed' (→ 400) when a segment is not valid percent-encoding. Segments are decoded one
 * by one, so an encoded "/" never splits a segment.
 */
export function resolveDiskRequest(
  path: string,
  { scratchDir, token }: Pick<DiskServerOptions, 'scratchDir' | 'token'>,
): { rawPath: string; format: 'raw' | 'qcow2' | 'auto' } | 'malformed' | undefined {
  let segments: string[];
  try {
    segments = (path.split('?')[0] ?? '').split('/').map((s) => decodeURIComponent(s));
  } catch {
    return 'malformed';
  }
  const [, first, file, ...rest] = segments;
  if (rest.length || first === undefined || !tokenMatches(first, token) || !file) return undefined;
  if (DISK_FILE.test(file)) return { rawPath: join(scratchDir, file), format: 'auto' };
  for (const format of ['qcow2', 'raw'] as const) {
    const diskName = file.endsWith(`.${format}`) ? file.slice(0, -format.length - 1) : '';
    if (DISK_FILE.test(diskName)) return { rawPath: join(scratchDir, diskName), format };
  }
  return undefined;
}

export function createDiskServer(options: DiskServerOptions) {
  const log = createLogger({ component: 'disk-server' });
  const headersTimeout = options.headersTimeoutMs ?? DISK_SERVER_HEADERS_TIMEOUT_MS;
  const serverOptions = {
    headersTimeout,
    // Bounds receiving the request only (not sending the disk); GET and HEAD have no body.
    requestTimeout: headersTimeout,
    // Node checks both timeouts on this interval (default 30 s); keep it below them.
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeout / 4))),
  };
  const server = createServer(serverOptions, (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    if ((req.url ?? '').length > DISK_SERVER_MAX_URL_LENGTH) {
      res.writeHead(414).end();
      return;
    }
    const target = resolveDiskRequest(req.url ?? '/', options);
    if (target === 'malformed') {
      res.writeHead(400).end();
      return;
    }
    if (!target) {
      res.writeHead(404).end();
      return;
    }
    log.info('serve', {
      method: req.method,
      file: target.rawPath,
      format: target.format,
      range: req.headers.range,
    });
    void serveDiskFile(req, res, target);
  });
  // Inactivity in either direction, including a reader that stopped reading: the socket is
  // destroyed, which also ends the file stream feeding it.
  server.setTimeout(options.idleTimeoutMs ?? DISK_SERVER_IDLE_TIMEOUT_MS, (socket) => socket.destroy());
  return server;
}
