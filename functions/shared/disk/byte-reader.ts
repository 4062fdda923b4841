import { DiskFormatError } from './errors.ts';

/** What the disk readers accept: a Node stream or any (async) iterable of bytes. */
export type ByteSource = NodeJS.ReadableStream | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Reads exact byte counts from a byte stream that can only be read once, in order. Holds only the
 * chunks not yet consumed. Honours an AbortSignal while waiting for data.
 */
export class ByteReader {
  /** Bytes consumed by read/skip so far (the current offset in the stream). */
  position = 0;
  /** Bytes received from the source so far. */
  bytesIn = 0;
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private ended = false;
  private readonly it: AsyncIterator<Uint8Array | string>;

  constructor(
    source: ByteSource,
    private readonly signal?: AbortSignal,
    private readonly what = 'disk stream',
  ) {
    const toAsync = (source as Partial<AsyncIterable<Uint8Array | string>>)[Symbol.asyncIterator];
    this.it = toAsync
      ? toAsync.call(source)
      : fromSync((source as unknown as Iterable<Uint8Array>)[Symbol.iterator]());
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    this.signal?.throwIfAborted();
    const next = this.it.next();
    const r = this.signal ? await raceAbort(next, this.signal) : await next;
    if (r.done) {
      this.ended = true;
      return false;
    }
    const v = r.value;
    if (typeof v === 'string') throw new TypeError(`${this.what}: expected bytes, got a string chunk`);
    if (v.byteLength > 0) {
      this.chunks.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      this.buffered += v.byteLength;
      this.bytesIn += v.byteLength;
    }
    return true;
  }

  /** Buffers up to `n` bytes; returns how many are available (less than `n` only at the end). */
  async fill(n: number): Promise<number> {
    while (this.buffered < n && (await this.pull()));
    return Math.min(n, this.buffered);
  }

  /** Consumes exactly `n` bytes; throws TruncatedDiskStream if the stream ends first. */
  async read(n: number): Promise<Buffer> {
    if ((await this.fill(n)) < n) this.truncated(n);
    const first = this.chunks[0];
    let out: Buffer;
    if (first && first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
    } else {
      out = Buffer.allocUnsafe(n);
      let copied = 0;
      let head = this.head;
      for (const c of this.chunks) {
        const take = Math.min(c.length - head, n - copied);
        c.copy(out, copied, head, head + take);
        copied += take;
        head = 0;
        if (copied === n) break;
      }
    }
    this.consume(n);
    return out;
  }

  /**
   * Consumes up to `max` bytes without copying (a view of one received chunk); undefined once
   * the stream has ended. The view stays valid: chunks are never reused by the reader.
   */
  async readSome(max: number): Promise<Buffer | undefined> {
    if (this.buffered === 0 && !(await this.pull())) return undefined;
    if (this.buffered === 0) return this.readSome(max);
    const first = this.chunks[0]!;
    const n = Math.min(max, first.length - this.head);
    const out = first.subarray(this.head, this.head + n);
    this.consume(n);
    return out;
  }

  /** Bytes received and not yet consumed (usable without waiting). */
  get available(): number {
    return this.buffered;
  }

  /** Discards exactly `n` bytes without copying; throws TruncatedDiskStream if it ends first. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) this.truncated(n);
      const take = Math.min(left, this.buffered);
      this.consume(take);
      left -= take;
    }
  }

  /** Reads and discards everything left (so a tar extractor can move to the next entry). */
  async drain(): Promise<void> {
    this.consume(this.buffered);
    while (await this.pull()) this.consume(this.buffered);
  }

  /** Stops reading; a Node stream is destroyed. */
  async close(): Promise<void> {
    this.chunks.length = 0;
    this.buffered = 0;
    if (!this.ended) {
      this.ended = true;
      // Not awaited: a generator stuck in an await (a stalled download) settles return() only
      // when that await does; a Node stream is destroyed right away.
      void this.it.return?.().catch(() => undefined);
    }
  }

  private consume(n: number): void {
    this.position += n;
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const avail = first.length - this.head;
      if (n >= avail) {
        this.chunks.shift();
        this.head = 0;
        n -= avail;
      } else {
        this.head += n;
        n = 0;
      }
    }
  }

  private truncated(wanted: number): never {
    throw new DiskFormatError(
      'TruncatedDiskStream',
      `${this.what} ended early: needed ${wanted} more bytes at offset ${this.position}, stream ended after ${this.bytesIn} bytes`,
    );
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function fromSync(it: Iterator<Uint8Array>): AsyncIterator<Uint8Array> {
  return {
    next: () => Promise.resolve(it.next()),
    return: () => Promise.resolve(it.return?.() ?? { done: true, value: undefined }),
  };
}
