// A crypto hash computed on a worker thread, so that verifying a download's checksum does not take
// CPU time from the thread that decrypts TLS and writes the disk. The bytes travel through a fixed
// ring of shared-memory slots: update() copies into a free slot and resolves; when every slot is
// still being hashed it waits, which holds the caller back to the hashing speed. Memory stays at
// SLOTS x SLOT_BYTES whatever the disk size (a copy per message instead grew the exporter's RSS by
// ~100 MiB before the worker's garbage collector caught up).
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const SLOT_BYTES = 1024 * 1024;
const SLOTS = 8;

// Node built-ins only: evaluated as a CommonJS script, so it needs no file of its own in the build.
const WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const hash = createHash(workerData.algo);
parentPort.on('message', (m) => {
  if (m.slot === undefined) return parentPort.postMessage({ digest: hash.digest('hex') });
  hash.update(new Uint8Array(workerData.ring, m.slot * workerData.slotBytes, m.length));
  parentPort.postMessage({ slot: m.slot });
});
`;

export class OffThreadHash {
  private readonly worker: Worker;
  private readonly ring = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
  private readonly free = Array.from({ length: SLOTS }, (_, i) => i);
  private readonly slotWaiters: Array<() => void> = [];
  private digestWaiter?: { resolve(digest: string): void; reject(e: unknown): void };
  private failure: unknown;
  private queue: Promise<void> = Promise.resolve();

  /** Throws as createHash does for an algorithm this Node does not have. */
  constructor(readonly algorithm: string) {
    createHash(algorithm);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { algo: algorithm, ring: this.ring, slotBytes: SLOT_BYTES },
    });
    this.worker.on('message', (m: { slot?: number; digest?: string }) => {
      if (m.digest !== undefined) this.digestWaiter?.resolve(m.digest);
      else {
        this.free.push(m.slot!);
        this.slotWaiters.shift()?.();
      }
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`the hash worker exited (${code})`)));
  }

  /**
   * Hashes `data` after everything updated before (calls may overlap: they are queued in call
   * order); the caller must keep `data` unchanged until this resolves.
   */
  update(data: Uint8Array): Promise<void> {
    const copied = this.queue.then(() => this.copyIn(data));
    this.queue = copied.catch(() => undefined);
    return copied;
  }

  private async copyIn(data: Uint8Array): Promise<void> {
    for (let done = 0; done < data.length; done += SLOT_BYTES) {
      const piece = data.subarray(done, done + SLOT_BYTES);
      const slot = await this.takeSlot();
      new Uint8Array(this.ring, slot * SLOT_BYTES, piece.length).set(piece);
      this.worker.postMessage({ slot, length: piece.length });
    }
  }

  /** The hex digest of everything updated, in order; the worker ends. */
  async digest(): Promise<string> {
    try {
      if (this.failure) throw this.failure;
      await this.queue;
      return await new Promise<string>((resolve, reject) => {
        this.digestWaiter = { resolve, reject };
        this.worker.postMessage({});
      });
    } finally {
      await this.close();
    }
  }

  /** Ends the worker (also when the download failed before the digest). */
  async close(): Promise<void> {
    this.fail(new Error('the hash was closed'));
    await this.worker.terminate();
  }

  private async takeSlot(): Promise<number> {
    for (;;) {
      if (this.failure) throw this.failure;
      const slot = this.free.shift();
      if (slot !== undefined) return slot;
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    for (const wake of this.slotWaiters.splice(0)) wake();
    this.digestWaiter?.reject(this.failure);
  }
}
