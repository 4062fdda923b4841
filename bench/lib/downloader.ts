// Stand-in for Harvester's image download (what local-cluster/runtime/harvester/image-controller.ts
// does, in a reusable form): HTTP GET of the URL written to a file as received (by a Go program,
// as Longhorn's backing-image-manager is Go), then `qemu-img convert -O raw` when qemu-img sees
// another format. Counts the bytes received.
import { execa } from 'execa';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { goFetch } from './go-tool.ts';

export interface DownloadResult {
  /** The raw image on the downloader's side. */
  rawPath: string;
  /** Bytes of HTTP body received. */
  bytesReceived: number;
  /** Format qemu-img detected in what was received. */
  format: string;
}

export async function downloadImage(url: string, dir: string, name = 'image'): Promise<DownloadResult> {
  await mkdir(dir, { recursive: true });
  const download = join(dir, `.${name}.download`);
  const rawPath = join(dir, `${name}.raw`);
  const bytesReceived = await goFetch(url, download);
  const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', download])).stdout) as {
    format: string;
  };
  if (info.format === 'raw') await rename(download, rawPath);
  else {
    await execa('qemu-img', ['convert', '-f', info.format, '-O', 'raw', download, rawPath]);
    await rm(download, { force: true });
  }
  return { rawPath, bytesReceived, format: info.format };
}

const rawImageOpts = (path: string, direct: boolean) =>
  `driver=raw,file.driver=file,file.filename=${path.replaceAll(',', ',,')}${direct ? ',cache.direct=on' : ''}`;

/**
 * Whether a downloaded raw image holds the same bytes as the source's raw file and has the same
 * size (qemu-img compare). The source is read with O_DIRECT: it is not in the page cache (the
 * sources serve VMDKs or clones of it), and filling the cache costs more than the compare here.
 */
export async function sameDisk(
  downloaded: string,
  source: string,
): Promise<{ same: boolean; detail: string }> {
  const [sa, sb] = await Promise.all([downloaded, source].map(async (p) => (await stat(p)).size));
  if (sa !== sb) return { same: false, detail: `sizes differ: ${sa} vs ${sb}` };
  const r = await execa(
    'qemu-img',
    ['compare', '--image-opts', rawImageOpts(downloaded, false), rawImageOpts(source, true)],
    { reject: false },
  );
  return { same: r.exitCode === 0, detail: (r.stdout || r.stderr).trim() };
}
