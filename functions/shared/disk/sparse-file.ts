import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { directIoEligible } from './aligned-buffer.ts';
import { nonZeroRuns } from './zero.ts';

export interface SparseFileWriterOptions {
  /**
   * Write aligned runs of aligned buffers (allocAligned) with O_DIRECT (default true where the
   * platform has it): a disk image is written once and read by another process later, so caching
   * it only costs page-cache allocation (the dominant CPU cost of large writes on VMs) and memory
   * charged to the pod. Falls back to buffered writes when the file system refuses O_DIRECT.
   */
  directIo?: boolean;
}

/**
 * An output file written at explicit positions in which all-zero blocks are never written, so
 * they stay holes. Writes may be issued concurrently (they never overlap); `allocatedBytes`
 * counts the bytes actually written.
 */
export class SparseFileWriter {
  allocatedBytes = 0;
  /** Bytes written with O_DIRECT (the rest went through the page cache). */
  directBytes = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private direct: FileHandle | undefined,
  ) {}

  /** Creates (or truncates) `path`. */
  static async create(path: string, opts: SparseFileWriterOptions = {}): Promise<SparseFileWriter> {
    const fh = await open(path, 'w', 0o644);
    let direct: FileHandle | undefined;
    if ((opts.directIo ?? true) && constants.O_DIRECT !== undefined) {
      // e.g. tmpfs refuses O_DIRECT: then every write is buffered
      direct = await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined);
    }
    return new SparseFileWriter(path, fh, direct);
  }

  /** Sets the file length; growing it adds a hole. */
  async setSize(sizeBytes: number): Promise<void> {
    await this.fh.truncate(sizeBytes);
  }

  /** Writes the non-zero blocks of `data` at absolute `position`. */
  async writeAt(data: Uint8Array, position: number): Promise<void> {
    for (const run of nonZeroRuns(data, position)) {
      let done = 0;
      while (done < run.length) {
        const offset = run.offset + done;
        const length = run.length - done;
        const at = position + offset;
        let handle = this.fh;
        if (this.direct && directIoEligible(data, offset, length, at)) handle = this.direct;
        let bytesWritten: number;
        try {
          ({ bytesWritten } = await handle.write(data, offset, length, at));
        } catch (e) {
          if (handle !== this.direct || (e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
          await this.stopDirectIo();
          continue;
        }
        if (handle === this.direct) this.directBytes += bytesWritten;
        done += bytesWritten;
      }
      this.allocatedBytes += run.length;
    }
  }

  /** Flushes data to stable storage and closes the file. */
  async finish(): Promise<void> {
    await this.fh.datasync();
    this.closed = true;
    await this.stopDirectIo();
    await this.fh.close();
  }

  private async stopDirectIo(): Promise<void> {
    const direct = this.direct;
    this.direct = undefined;
    await direct?.close().catch(() => undefined);
  }

  /** Closes and removes the partial file; never throws. */
  async discard(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.stopDirectIo();
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.path).catch(() => undefined);
  }
}
