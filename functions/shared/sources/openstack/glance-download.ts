// Download of a Glance image onto the scratch volume as a sparse raw file: raw images are written
// as they arrive; other formats are bounded by their declared size, verified, then converted by
// qemu-img. The image's checksum is verified either way.
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { convertForeignImage, qemuFormatForGlance } from '../../disk/foreign-image.ts';
import { OffThreadHash } from '../../disk/off-thread-hash.ts';
import { writeSparseRaw } from '../../disk/sparse-raw.ts';
import { DOWNLOAD_STALL_TIMEOUT_MS, MAX_DISK_BYTES } from '../../limits.ts';
import { SourceError } from '../source-error.ts';
import { watchForStall } from '../stall-watch.ts';
import type { DiskProgress } from '../types.ts';
import { httpError } from './http.ts';
import type { OpenstackSession } from './session.ts';

export interface GlanceImage {
  id: string;
  status?: string;
  size?: number | null;
  virtual_size?: number | null;
  disk_format?: string;
  checksum?: string | null;
  os_hash_algo?: string | null;
  os_hash_value?: string | null;
}

export async function downloadImage(
  session: OpenstackSession,
  image: GlanceImage,
  outPath: string,
  progress: (p: Omit<DiskProgress, 'index'>) => void,
  signal: AbortSignal,
  stallTimeoutMs = DOWNLOAD_STALL_TIMEOUT_MS,
): Promise<{ sizeBytes: number; allocatedBytes: number }> {
  const diskFormat = image.disk_format ?? 'raw';
  // Decided before downloading: an unsupported format costs no transfer.
  const foreignFormat = diskFormat === 'raw' ? undefined : qemuFormatForGlance(diskFormat);
  const res = await session.call<Readable>('image', `/images/${image.id}/file`, {
    method: 'GET',
    responseType: 'stream',
    timeout: 0,
    // Bounded below by the image's declared size instead of the JSON answer cap.
    maxContentLength: -1,
    signal,
    what: `downloading image ${image.id}`,
  });
  if (res.status !== 200) {
    res.data?.destroy?.();
    throw httpError(res.status, undefined, `Downloading image ${image.id}`);
  }
  const total = image.size ?? Number(res.headers['content-length'] ?? 0);
  const algo =
    image.os_hash_algo && image.os_hash_value ? image.os_hash_algo : image.checksum ? 'md5' : undefined;
  const expected =
    algo === 'md5' && !image.os_hash_value ? image.checksum : (image.os_hash_value ?? image.checksum);
  // Off the thread that decrypts TLS and writes the disk: that thread is the download's limit.
  const hash = algo ? new OffThreadHash(algo) : undefined;
  try {
    const body = watchForStall(
      res.data,
      stallTimeoutMs,
      () =>
        new SourceError(
          'Timeout',
          `The download of image ${image.id} stalled: no data arrived for ${Math.round(stallTimeoutMs / 1000)} s (Glance stopped answering); the export is tried again.`,
          { retryable: true },
        ),
    );
    return await downloadVerified(
      body,
      image,
      outPath,
      { foreignFormat, total, hash, expected },
      progress,
      signal,
    );
  } finally {
    await hash?.close();
  }
}

async function downloadVerified(
  data: Readable,
  image: GlanceImage,
  outPath: string,
  o: {
    foreignFormat: ReturnType<typeof qemuFormatForGlance> | undefined;
    total: number;
    hash: OffThreadHash | undefined;
    expected: string | null | undefined;
  },
  progress: (p: Omit<DiskProgress, 'index'>) => void,
  signal: AbortSignal,
): Promise<{ sizeBytes: number; allocatedBytes: number }> {
  const { foreignFormat, total, hash, expected } = o;
  const onProgress = (bytesDone: number) => progress({ phase: 'exporting', bytesDone, bytesTotal: total });

  let result: { sizeBytes: number; allocatedBytes: number };
  if (foreignFormat === undefined) {
    // The writer feeds the hash in ~1 MiB pieces as the bytes pass: one pass, hashed once.
    result = await writeSparseRaw(data, outPath, {
      ...(image.size ? { sizeBytes: image.size } : { maxBytes: MAX_DISK_BYTES }),
      ...(hash ? { hash } : {}),
      onProgress,
      signal,
    });
  } else {
    // Glance must not send more than it declared (nor, undeclared, more than any disk can be).
    const limit = image.size || MAX_DISK_BYTES;
    let received = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        if (received > limit) {
          cb(
            new SourceError(
              'DiskSizeMismatch',
              `The download of image ${image.id} is longer than the ${limit} bytes ${image.size ? 'Glance declared' : 'accepted'}.`,
            ),
          );
          return;
        }
        if (hash) hash.update(chunk).then(() => cb(null, chunk), cb);
        else cb(null, chunk);
      },
    });
    data.on('error', (e) => tap.destroy(e));
    data.pipe(tap);
    const tmp = `${outPath}.download.part`;
    try {
      tap.on('data', () => onProgress(received));
      await pipeline(tap, createWriteStream(tmp), { signal });
      await checkDigest(hash, expected, image.id);
      progress({ phase: 'converting', bytesDone: total, bytesTotal: total });
      await convertForeignImage(tmp, foreignFormat, outPath, `image ${image.id}`, signal);
    } catch (err) {
      await rm(outPath, { force: true });
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
    const st = await stat(outPath);
    return { sizeBytes: st.size, allocatedBytes: st.blocks * 512 };
  }
  progress({ phase: 'verifying', bytesDone: total, bytesTotal: total });
  try {
    await checkDigest(hash, expected, image.id);
  } catch (err) {
    await rm(outPath, { force: true });
    throw err;
  }
  return result;
}

async function checkDigest(
  hash: OffThreadHash | undefined,
  expected: string | null | undefined,
  imageId: string,
): Promise<void> {
  if (!hash || !expected) return;
  const actual = await hash.digest();
  if (actual !== expected)
    throw new SourceError(
      'ChecksumMismatch',
      `The download of image ${imageId} does not match its checksum; try again.`,
      { retryable: true },
    );
}
