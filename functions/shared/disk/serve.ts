// Serves one sparse raw disk file over HTTP, read-only, as raw or as a streamed qcow2, or in
// whichever of the two sends fewer bytes ('auto'), with Content-Length, single byte ranges
// (206/416), HEAD, ETag and Last-Modified. Mapping URL paths to files is the caller's job.
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { findDataExtents } from './extents.ts';
import type { Extent } from './extents.ts';
import { createQcow2Stream, qcow2Layout } from './qcow2-stream.ts';
import type { Qcow2Layout } from './qcow2-stream.ts';
import { createSparseRawStream } from './raw-stream.ts';

export type ServedDiskFormat = 'raw' | 'qcow2';

export interface ServeDiskOptions {
  rawPath: string;
  /** 'auto': qcow2 when the disk is sparse enough for that to pay (see chooseServedFormat). */
  format: ServedDiskFormat | 'auto';
}

/**
 * Below this share of allocated data, qcow2 is served: it sends only the allocated clusters,
 * which saves more than the downloader's conversion back to raw costs. Above it the bytes saved
 * are few and the conversion is a second full pass over the disk, so raw is served.
 */
export const QCOW2_MAX_ALLOCATED_SHARE = 0.9;

/** The format 'auto' serves for a raw file of `sizeBytes` with data in `extents`. */
export function chooseServedFormat(sizeBytes: number, extents: readonly Extent[]): ServedDiskFormat {
  if (sizeBytes === 0) return 'raw';
  const allocated = extents.reduce((n, e) => n + e.length, 0);
  return allocated < sizeBytes * QCOW2_MAX_ALLOCATED_SHARE ? 'qcow2' : 'raw';
}

interface DiskView {
  format: ServedDiskFormat;
  extents: Extent[];
  layout?: Qcow2Layout;
  length: number;
}

// Extents of a file version (path, inode, size, mtime): mapping a large file is not free.
const views = new Map<string, Promise<Extent[]>>();
const MAX_CACHED_VIEWS = 64;

/** Handles one request for the disk at `opts.rawPath`. Never throws; failures become 4xx/5xx. */
export async function serveDiskFile(
  req: IncomingMessage,
  res: ServerResponse,
  opts: ServeDiskOptions,
): Promise<void> {
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendStatus(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    }
    let st: Stats;
    try {
      st = await stat(opts.rawPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return sendStatus(res, 404, 'disk not found');
      throw e;
    }
    if (!st.isFile()) return sendStatus(res, 404, 'disk not found');
    const view = await diskView(opts.rawPath, st, opts.format);
    const etag = `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.trunc(st.mtimeMs).toString(16)}-${view.format}"`;
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Last-Modified': st.mtime.toUTCString(),
      'Cache-Control': 'no-cache',
      'X-Disk-Format': view.format,
    };
    if (etagMatches(req.headers['if-none-match'], etag)) return sendStatus(res, 304, '', headers);

    let range: { start: number; end: number } | 'unsatisfiable' | undefined;
    const ifRange = req.headers['if-range'];
    if (
      req.headers.range &&
      (ifRange === undefined || ifRange === etag || ifRange === headers['Last-Modified'])
    ) {
      range = parseRange(req.headers.range, view.length);
    }
    if (range === 'unsatisfiable') {
      return sendStatus(res, 416, 'range not satisfiable', {
        ...headers,
        'Content-Range': `bytes */${view.length}`,
      });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? view.length - 1;
    headers['Content-Length'] = String(end - start + 1);
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${view.length}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || view.length === 0) {
      res.end();
      return;
    }
    const body =
      view.format === 'qcow2'
        ? createQcow2Stream(opts.rawPath, view.extents, { start, end, layout: view.layout! })
        : createSparseRawStream(opts.rawPath, view.extents, { start, end, sizeBytes: st.size });
    await pipeline(body, res).catch(() => {
      // The client went away or the file could not be read: the connection is torn down, which
      // tells the downloader the body is incomplete (its Content-Length is not met).
      res.destroy();
    });
  } catch (e) {
    if (!res.headersSent) sendStatus(res, 500, `cannot serve disk: ${(e as Error).message}`);
    else res.destroy();
  }
}

async function diskView(rawPath: string, st: Stats, requested: ServedDiskFormat | 'auto'): Promise<DiskView> {
  const key = `${rawPath}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  let extentsPromise = views.get(key);
  if (!extentsPromise) {
    extentsPromise = findDataExtents(rawPath);
    extentsPromise.catch(() => views.delete(key));
    if (views.size >= MAX_CACHED_VIEWS) views.delete(views.keys().next().value!);
    views.set(key, extentsPromise);
  }
  const extents = await extentsPromise;
  const format = requested === 'auto' ? chooseServedFormat(st.size, extents) : requested;
  if (format === 'raw') return { format, extents, length: st.size };
  if (st.size === 0) throw new Error('an empty file has no qcow2 form');
  const layout = qcow2Layout(st.size, extents);
  return { format, extents, layout, length: layout.totalLength };
}

/**
 * Parses a single `bytes=` range against a body of `length` bytes. Returns undefined when the
 * header is not a single well-formed byte range (the whole body is then sent, as RFC 9110 allows).
 */
export function parseRange(
  header: string,
  length: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || length === 0) return 'unsatisfiable';
    return { start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(a);
  const end = b === '' ? length - 1 : Math.min(Number(b), length - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= length) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

function sendStatus(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = status === 304 || message === '' ? '' : `${message}\n`;
  res.writeHead(status, {
    ...headers,
    ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}),
    ...(status === 304 ? {} : { 'Content-Length': String(Buffer.byteLength(body)) }),
  });
  res.end(body);
}
