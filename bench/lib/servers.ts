// The two HTTP servers the image downloader fetches from:
//   * ours: the per-import disk server (its build, dist/functions/images/disk-server-main.mjs) in its
//     own process;
//   * upstream's: Go's http.FileServer over the scratch directory (static-file-server/main.go).
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { ensureBuilt } from '../../build.ts';
import { IMAGE_PROGRAMS } from '../../functions/shared/image-programs.ts';
import { goTool } from './go-tool.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface RunningServer {
  /** URL of the disk file `name` in the served directory. */
  urlOf(name: string): string;
  /** PID of the server process. */
  pid: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

async function stopChild(child: ResultPromise): Promise<void> {
  if (child.exitCode === null && child.pid) child.kill('SIGTERM');
  await child.catch(() => undefined);
}

/** Starts the disk server's build (as its pod runs it) serving `scratchDir` (qcow2 at `<disk>.qcow2`). */
export async function startDiskServer(scratchDir: string): Promise<RunningServer> {
  const token = randomBytes(16).toString('hex');
  const port = await freePort();
  await ensureBuilt();
  const child = execa(process.execPath, [join(REPO, IMAGE_PROGRAMS.diskServer.built)], {
    cwd: REPO,
    env: { DISK_SERVER_TOKEN: token, SCRATCH_DIR: scratchDir, PORT: String(port), LOG_LEVEL: 'warn' },
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
    cleanup: true,
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`disk server exited ${child.exitCode}`);
    const ok = await axios
      .get(`${base}/healthz`, { timeout: 1000, validateStatus: () => true })
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error('disk server did not become ready in 60 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { urlOf: (name) => `${base}/${token}/${name}`, pid: child.pid!, stop: () => stopChild(child) };
}

/** Builds (once) and starts the re-creation of upstream's static file server over `dir`. */
export async function startStaticFileServer(dir: string): Promise<RunningServer> {
  const bin = await goTool('static-file-server');
  const child = execa(bin, [dir], { stdout: 'pipe', stderr: 'inherit', reject: false, cleanup: true });
  const lines = createInterface({ input: child.stdout! });
  const address = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    void child.then((r) => reject(new Error(`static file server exited ${r.exitCode}`)));
  });
  lines.close();
  return { urlOf: (name) => `http://${address}/${name}`, pid: child.pid!, stop: () => stopChild(child) };
}
