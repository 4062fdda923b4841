// The per-import disk server: serves this import's converted disks from the scratch volume,
// read-only, under an unguessable path, with Range support:
//   GET /<token>/<diskName>         the form that sends fewer bytes, decided from the file's
//                                   extents: qcow2 (only allocated clusters travel) when less than
//                                   90 % is allocated, raw otherwise (the downloader detects which);
//   GET /<token>/<diskName>.qcow2   always qcow2;   GET /<token>/<diskName>.raw   always raw.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { serveDiskFile } from '../shared/disk/serve.ts';
import { createLogger } from '../shared/log.ts';

const DISK_FILE = /^disk-\d+\.(img|raw)$/;

export interface DiskServerOptions {
  scratchDir: string;
  token: string;
}

/** Maps a request path to the disk file and format it asks for, or undefined (→ 404). */
export function resolveDiskRequest(
  path: string,
  { scratchDir, token }: DiskServerOptions,
): { rawPath: string; format: 'raw' | 'qcow2' | 'auto' } | undefined {
  const [, first, file, ...rest] = decodeURIComponent(path.split('?')[0] ?? '').split('/');
  if (rest.length || first !== token || !file) return undefined;
  if (DISK_FILE.test(file)) return { rawPath: join(scratchDir, file), format: 'auto' };
  for (const format of ['qcow2', 'raw'] as const) {
    const diskName = file.endsWith(`.${format}`) ? file.slice(0, -format.length - 1) : '';
    if (DISK_FILE.test(diskName)) return { rawPath: join(scratchDir, diskName), format };
  }
  return undefined;
}

export function createDiskServer(options: DiskServerOptions) {
  const log = createLogger({ component: 'disk-server' });
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    const target = resolveDiskRequest(req.url ?? '/', options);
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
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const token = process.env.DISK_SERVER_TOKEN ?? '';
  if (token.length < 16) {
    console.error('DISK_SERVER_TOKEN must be set (at least 16 characters)');
    process.exit(2);
  }
  const server = createDiskServer({ scratchDir: process.env.SCRATCH_DIR ?? '/scratch', token });
  server.listen(Number(process.env.PORT ?? 8080));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
