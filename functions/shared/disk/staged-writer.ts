// Gathers bytes that arrive in small pieces (HTTP chunks, 64 KiB grains) into ~1 MiB stages and
// writes each stage's non-zero 64 KiB blocks to a SparseFileWriter, several stages in flight. The
// stages come from a fixed pool, so memory stays at (maxInFlight + 1) stages and no buffer is
// allocated per piece; a piece is copied once, into its stage.
import { allocAligned } from './aligned-buffer.ts';
import type { SparseFileWriter } from './sparse-file.ts';

export const STAGE_BYTES = 1024 * 1024;
const DEFAULT_IN_FLIGHT = 8;

export interface StagedWriterOptions {
  stageBytes?: number;
  /** Stages being written at once (each is a write to the thread pool). */
  maxInFlight?: number;
  /** Called when a stage has been written. */
  onWritten?(): void;
  /**
   * Sees each stage's bytes (in the order stages are flushed) just before it is written. A promise
   * it returns holds the stage, like its write does, until it settles (a rejection fails the writer).
   */
  beforeWrite?(data: Buffer, position: number): Promise<void> | void;
}

export class StagedWriter {
  private readonly stageBytes: number;
  private readonly maxInFlight: number;
  private readonly free: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private stage: Buffer | undefined;
  /** Absolute position of the stage's first byte, bytes in it, and where it must end. */
  private base = 0;
  private used = 0;
  private limit = 0;
  private error: unknown;

  constructor(
    private readonly out: SparseFileWriter,
    private readonly opts: StagedWriterOptions = {},
  ) {
    this.stageBytes = opts.stageBytes ?? STAGE_BYTES;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_IN_FLIGHT;
  }

  /**
   * Room in the current stage for bytes at `position` (a view to copy them into), flushing first
   * when `position` does not continue the stage or the stage is full. Call `commit(n)` after
   * filling n bytes of it. Resolves synchronously-fast unless every stage is being written.
   */
  async room(position: number): Promise<Buffer> {
    if (this.stage && (position !== this.base + this.used || this.used === this.limit)) await this.flush();
    if (!this.stage) {
      this.stage = await this.takeStage();
      this.base = position;
      this.used = 0;
      // Stages end at absolute multiples of the stage size: writes stay aligned.
      this.limit = this.stageBytes - (position % this.stageBytes);
    }
    return this.stage.subarray(this.used, this.limit);
  }

  commit(n: number): void {
    this.used += n;
  }

  /** Copies `data`, which belongs at absolute `position`, into stages. */
  async put(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const room = await this.room(position + done);
      const n = Math.min(room.length, data.length - done);
      room.set(data.subarray(done, done + n));
      this.commit(n);
      done += n;
    }
  }

  /** Starts writing the current stage (if any). */
  async flush(): Promise<void> {
    const stage = this.stage;
    if (!stage) return;
    this.stage = undefined;
    if (this.error) throw this.error;
    const data = stage.subarray(0, this.used);
    const seen = this.opts.beforeWrite?.(data, this.base);
    const job = Promise.all([this.out.writeAt(data, this.base), seen])
      .then(() => this.opts.onWritten?.())
      .catch((e: unknown) => {
        this.error ??= e;
      })
      .finally(() => {
        this.free.push(stage);
        this.inFlight.delete(job);
      });
    this.inFlight.add(job);
  }

  /** Flushes and waits for every write; throws the first write error. */
  async finish(): Promise<void> {
    await this.flush();
    await Promise.all(this.inFlight);
    if (this.error) throw this.error;
  }

  /** Waits for writes in flight, ignoring their errors (before discarding the output). */
  async settle(): Promise<void> {
    this.stage = undefined;
    await Promise.allSettled(this.inFlight);
  }

  private async takeStage(): Promise<Buffer> {
    while (this.free.length === 0 && this.inFlight.size >= this.maxInFlight) {
      await Promise.race(this.inFlight);
    }
    if (this.error) throw this.error;
    return this.free.pop() ?? allocAligned(this.stageBytes); // aligned: the writer can use O_DIRECT
  }
}
