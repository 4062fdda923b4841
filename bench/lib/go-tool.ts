// The bench's single-file Go programs (GOPATH mode: offline, standard library only), built once.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The project's root: the nearest directory above this module with a package.json. Not a fixed
 * `..`: the exporter child runs this module bundled into bench/work/build/bench/lib/, where the
 * Go sources are not.
 */
function projectRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const BENCH_LIB = join(projectRoot(import.meta.dirname), 'bench', 'lib');
const BIN_DIR = join(BENCH_LIB, '..', 'work', 'bin');
const built = new Map<string, Promise<string>>();

/** Path of the binary built from bench/lib/<name>/main.go (once per process). */
export function goTool(name: string): Promise<string> {
  let bin = built.get(name);
  if (!bin) {
    bin = (async () => {
      await mkdir(BIN_DIR, { recursive: true });
      const out = join(BIN_DIR, name);
      await execa('go', ['build', '-o', out, join(BENCH_LIB, name, 'main.go')], {
        env: { GO111MODULE: 'off', GOFLAGS: '' },
      });
      return out;
    })();
    built.set(name, bin);
  }
  return bin;
}

export interface FetchOptions {
  /** PEM of the CA to trust (TLS is verified). */
  caCertPem?: string;
  headers?: Record<string, string>;
}

/**
 * Downloads `url` into `file` with bench/lib/image-fetch (Go's io.Copy, as Go programs such as
 * upstream's controller and Longhorn's backing-image-manager transfer); returns the bytes received.
 */
export async function goFetch(url: string, file: string, o: FetchOptions = {}): Promise<number> {
  const args: string[] = [];
  const ca = o.caCertPem ? `${file}.ca.pem` : undefined;
  if (ca) {
    await writeFile(ca, o.caCertPem!);
    args.push('-cacert', ca);
  }
  for (const [name, value] of Object.entries(o.headers ?? {})) args.push('-H', `${name}: ${value}`);
  try {
    const r = await execa(await goTool('image-fetch'), [...args, url, file], { reject: false });
    if (r.exitCode !== 0) throw new Error(`download ${url}: ${r.stderr.trim()}`);
    return (JSON.parse(r.stdout) as { bytes: number }).bytes;
  } finally {
    if (ca) await rm(ca, { force: true });
  }
}
