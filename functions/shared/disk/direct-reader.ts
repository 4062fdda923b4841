// Reads a disk image that is read once and sent away (the disk server serving scratch): aligned
// reads bypass the page cache with O_DIRECT into one page-aligned buffer and are copied out, the
// rest (an odd-sized tail) is read normally. Filling the page cache with data nobody reads again
// costs more CPU than the copy on VMs, and counts against the pod's memory.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { allocAligned, DIRECT_IO_ALIGNMENT } from './aligned-buffer.ts';

const DIRECT_BUFFER_BYTES = 1024 * 1024;

export class DiskFileReader {
  private readonly aligned = allocAligned(DIRECT_BUFFER_BYTES);

  private constructor(
    private readonly fh: FileHandle,
    private direct: FileHandle | undefined,
  ) {}

  static async open(path: string, { directIo = true } = {}): Promise<DiskFileReader> {
    const fh = await open(path, 'r');
    let direct: FileHandle | undefined;
    if (directIo && constants.O_DIRECT !== undefined)
      direct = await open(path, constants.O_RDONLY | constants.O_DIRECT).catch(() => undefined);
    return new DiskFileReader(fh, direct);
  }

  /**
   * Fills `buf[offset, offset + length)` from file `position`; returns the bytes read (fewer only
   * at the end of the file).
   */
  async read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    let got = 0;
    while (got < length) {
      const at = position + got;
      const want = length - got;
      const n = await this.readDirect(buf, offset + got, want, at);
      if (n === undefined) {
        const { bytesRead } = await this.fh.read(buf, offset + got, want, at);
        if (bytesRead === 0) break;
        got += bytesRead;
      } else {
        if (n === 0) break;
        got += n;
      }
    }
    return got;
  }

  /** One O_DIRECT read of up to 1 MiB copied into `buf`, or undefined when it cannot be direct. */
  private async readDirect(
    buf: Buffer,
    offset: number,
    want: number,
    at: number,
  ): Promise<number | undefined> {
    const a = DIRECT_IO_ALIGNMENT;
    if (!this.direct || at % a !== 0 || want < a) return undefined;
    const n = Math.min(DIRECT_BUFFER_BYTES, want - (want % a));
    try {
      const { bytesRead } = await this.direct.read(this.aligned, 0, n, at);
      this.aligned.copy(buf, offset, 0, bytesRead);
      return bytesRead;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      const direct = this.direct;
      this.direct = undefined; // this file system refuses O_DIRECT reads: read normally from now on
      await direct.close().catch(() => undefined);
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.direct?.close().catch(() => undefined);
    await this.fh.close();
  }
}
