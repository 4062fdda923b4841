// Stand-in for CDI's importer image (quay.io/kubevirt/cdi-importer, cmd/cdi-importer/importer.go),
// for the HTTP source only. It is NOT CDI's importer: it is a small program of ours on the node
// agent's Debian base, with the host's qemu-img. What it keeps from CDI's:
//  - its inputs, the env CDI's import-controller.go makeImportEnv sets: IMPORTER_ENDPOINT (the
//    URL), IMPORTER_IMAGE_SIZE, OWNER_UID;
//  - where it writes (pkg/common/common.go): a Filesystem claim mounted at /data gets the raw
//    image as /data/disk.img (ImporterWritePath), a Block claim is the device
//    /dev/cdi-block-volume (WriteBlockPath); qcow2 (and any format qemu-img reads) becomes raw;
//  - its progress, the Prometheus counter kubevirt_cdi_import_progress_total{ownerUID} on port
//    8443 (pkg/monitoring/metrics/cdi-importer), which the DataVolume controller scrapes
//    (CDI serves it over TLS with its own certificate; this one serves plain HTTP);
//  - failure is exit code 1 with the error as the last log line (the pod's restartPolicy is
//    OnFailure, so the kubelet restarts it, and CDI counts the restarts).
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import axios from 'axios';

const run = promisify(execFile);
const BLOCK_PATH = '/dev/cdi-block-volume';
const FILESYSTEM_PATH = '/data/disk.img';
const METRICS_PORT = 8443;

async function isBlockTarget(): Promise<boolean> {
  return stat(BLOCK_PATH).then(
    (s) => s.isBlockDevice(),
    () => false,
  );
}

async function main(): Promise<void> {
  const url = process.env.IMPORTER_ENDPOINT;
  const ownerUid = process.env.OWNER_UID ?? '';
  if (!url) throw new Error('IMPORTER_ENDPOINT is not set');
  let progress = 0;
  const metrics = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(
      `# TYPE kubevirt_cdi_import_progress_total counter\nkubevirt_cdi_import_progress_total{ownerUID="${ownerUid}"} ${progress}\n`,
    );
  });
  await new Promise<void>((resolve) => metrics.listen(METRICS_PORT, resolve));
  const block = await isBlockTarget();
  const target = block ? BLOCK_PATH : FILESYSTEM_PATH;
  // CDI's scratch space: a non-streamable format (qcow2 over HTTP) is downloaded first.
  const scratch = await mkdtemp(join(block ? tmpdir() : dirname(FILESYSTEM_PATH), '.scratch-'));
  try {
    const download = join(scratch, 'download');
    const res = await axios.get(url, { responseType: 'stream', validateStatus: () => true, timeout: 60_000 });
    if (res.status !== 200) {
      res.data.destroy();
      // CDI's http-datasource.go wording.
      throw new Error(
        `Unable to connect to http data source: expected status code 200, got ${res.status}. Status: ${res.status} ${res.statusText}`,
      );
    }
    const total = Number(res.headers['content-length'] ?? 0);
    let done = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        done += chunk.length;
        if (total > 0) progress = Math.min(100, (done * 100) / total);
        cb(null, chunk);
      },
    });
    await pipeline(res.data, meter, createWriteStream(download));
    if (total > 0 && done !== total) throw new Error(`unexpected EOF: got ${done} of ${total} bytes`);
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', download])).stdout) as {
      format: string;
      'virtual-size': number;
    };
    const capacity = block
      ? Number((await run('blockdev', ['--getsize64', BLOCK_PATH])).stdout.trim())
      : Number.POSITIVE_INFINITY;
    // CDI's data-processor.go validates the virtual size against the target before converting.
    if (info['virtual-size'] > capacity)
      throw new Error(
        `virtual image size ${info['virtual-size']} is larger than the reported available storage ${capacity}. A larger PVC is required.`,
      );
    const args = ['convert', '-t', 'writeback', '-f', info.format, '-O', 'raw', download, target];
    if (block) args.splice(1, 0, '-n'); // the device exists: write into it, do not create
    await run('qemu-img', args);
    progress = 100;
    console.log(`Import Complete: ${info['virtual-size']} bytes written to ${target}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
    metrics.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
