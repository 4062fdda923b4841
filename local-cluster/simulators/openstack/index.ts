// Launcher of the OpenStack simulator: one node http(s) server that serves Keystone (/identity),
// Nova (/compute), Cinder (/volume), Glance (/image) and Neutron (/networking) from the inventory.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DiskFileReader } from '../../../functions/shared/disk/direct-reader.ts';
import { ensurePki } from '../../pki.ts';
import { loadInventory, type Inventory } from '../inventory.ts';
import { CloudModel, type OpenstackFaults, type StorageBackend } from './model.ts';
import { errorResponse, type SimResponse } from './responses.ts';
import { Router, type Credentials } from './routes.ts';

export type { OpenstackFaults } from './model.ts';

export interface OpenstackSimulatorOptions {
  inventory?: Inventory;
  inventoryFile?: string;
  /** Disk data, PKI (unless pkiDir) and temporary copies live here. */
  workDir: string;
  /** HTTPS with a certificate from `ensurePki` (default true). */
  tls?: boolean;
  pkiDir?: string;
  host?: string;
  port?: number;
  credentials?: Partial<Credentials>;
  faults?: OpenstackFaults;
  /** Disk format of images that Nova `createImage` makes of image-booted servers. */
  serverImageFormat?: 'raw' | 'qcow2';
  /** How Cinder and Glance copy data (default 'copy', an LVM-like backend). */
  storage?: StorageBackend;
  /** Volume content from this disk-content cache (see ModelOptions.diskCacheDir). */
  diskCacheDir?: string;
}

export interface OpenstackSimulator {
  /** Keystone v3 URL, e.g. https://127.0.0.1:PORT/identity/v3 */
  url: string;
  /** Root URL of the simulator (control endpoints under /_sim/). */
  baseUrl: string;
  region: string;
  username: string;
  password: string;
  projectName: string;
  domainName: string;
  caCertPem?: string;
  requests(): Array<{ method: string; path: string; status: number }>;
  setFaults(faults: OpenstackFaults): void;
  expireTokens(): void;
  model: CloudModel;
  stop(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

async function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return { ok: false };
    chunks.push(chunk as Buffer);
  }
  if (!size) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

const FILE_CHUNK = 1024 * 1024;

/**
 * A served file's bytes, read with O_DIRECT where the file system allows (holes read as zeros):
 * a multi-GiB image read once through the page cache costs this simulator's host more CPU than
 * the client it serves.
 */
async function* fileBytes(path: string, size: number): AsyncGenerator<Buffer> {
  const reader = await DiskFileReader.open(path);
  try {
    for (let pos = 0; pos < size;) {
      const n = Math.min(FILE_CHUNK, size - pos);
      const buf = Buffer.allocUnsafe(n);
      const got = await reader.read(buf, 0, n, pos);
      if (got === 0) break;
      yield got < n ? buf.subarray(0, got) : buf;
      pos += got;
    }
  } finally {
    await reader.close();
  }
}

async function send(req: IncomingMessage, res: ServerResponse, r: SimResponse): Promise<void> {
  const headers: Record<string, string | number> = { ...r.headers };
  if (r.file) {
    headers['content-length'] = r.file.size;
    res.writeHead(r.status, headers);
    if (req.method === 'HEAD') return void res.end();
    await pipeline(Readable.from(fileBytes(r.file.path, r.file.size)), res).catch(() => res.destroy());
    return;
  }
  if (r.body === undefined) {
    headers['content-length'] = 0;
    res.writeHead(r.status, headers);
    return void res.end();
  }
  const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
  headers['content-type'] ??= 'application/json';
  headers['content-length'] = Buffer.byteLength(text);
  res.writeHead(r.status, headers);
  res.end(text);
}

export async function startOpenstackSimulator(
  options: OpenstackSimulatorOptions,
): Promise<OpenstackSimulator> {
  const inventory = options.inventory ?? (await loadInventory(options.inventoryFile));
  if (!inventory.openstack) throw new Error('the inventory has no openstack section');
  const credentials: Credentials = {
    username: 'admin',
    password: 'sim-password',
    projectName: 'admin',
    domainName: 'Default',
    ...options.credentials,
  };
  const model = new CloudModel(inventory.openstack, {
    workDir: options.workDir,
    ...(options.serverImageFormat ? { serverImageFormat: options.serverImageFormat } : {}),
    ...(options.storage ? { storage: options.storage } : {}),
    ...(options.diskCacheDir ? { diskCacheDir: options.diskCacheDir } : {}),
  });
  model.faults = { ...options.faults };
  await model.load();
  const router = new Router(model, credentials);
  const tls = options.tls ?? true;
  const host = options.host ?? '127.0.0.1';
  let baseUrl = '';

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://sim');
      const body = await readJson(req);
      const ctx = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: body.ok ? body.value : undefined,
        baseUrl,
      };
      const response = body.ok
        ? await router.handle(ctx)
        : errorResponse('compute', 400, 'Malformed request body');
      await send(req, res, response);
    })().catch((err: unknown) => {
      console.error('[openstack-sim] request failed:', err);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ computeFault: { code: 500, message: 'Unexpected API Error.' } }));
    });
  };

  let caCertPem: string | undefined;
  const server = tls
    ? await (async () => {
        const pki = await ensurePki(options.pkiDir ?? join(options.workDir, 'pki'), [
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
  baseUrl = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: `${baseUrl}/identity/v3`,
    baseUrl,
    region: model.region,
    username: credentials.username,
    password: credentials.password,
    projectName: credentials.projectName,
    domainName: credentials.domainName,
    ...(caCertPem ? { caCertPem } : {}),
    requests: () => router.requests(),
    setFaults: (faults) => router.setFaults(faults),
    expireTokens: () => model.expireAllTokens(),
    model,
    stop: async () => {
      model.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
