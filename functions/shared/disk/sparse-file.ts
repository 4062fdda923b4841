import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { nonZeroRuns } from './zero.ts';

/**
 * An output file written at explicit positions in which all-zero blocks are never written, so
 * they stay holes. Writes may be issued concurrently (they never overlap); `allocatedBytes`
 * counts the bytes actually written.
 */
export class SparseFileWriter {
  allocatedBytes = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  /** Creates (or truncates) `path`. */
  static async create(path: string): Promise<SparseFileWriter> {
    return new SparseFileWriter(path, await open(path, 'w', 0o644));
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
        const { bytesWritten } = await this.fh.write(
          data,
          run.offset + done,
          run.length - done,
          position + run.offset + done,
        );
        done += bytesWritten;
      }
      this.allocatedBytes += run.length;
    }
  }

  /** Flushes data to stable storage and closes the file. */
  async finish(): Promise<void> {
    await this.fh.datasync();
    this.closed = true;
    await this.fh.close();
  }

  /** Closes and removes the partial file; never throws. */
  async discard(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.path).catch(() => undefined);
  }
}
