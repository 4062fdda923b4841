// Page-aligned buffers for O_DIRECT writes. Node gives no control over where a Buffer's memory
// starts (malloc'd, 16-byte aligned), and O_DIRECT needs the memory, the file offset and the
// length aligned to the device's logical block size. A WebAssembly.Memory is allocated by V8 in
// whole 64 KiB pages at a page-aligned address, so a Buffer over it is aligned. The writer still
// falls back to buffered I/O if the kernel refuses a write (EINVAL).

/** Alignment O_DIRECT writes are held to (covers 512-byte and 4 KiB logical blocks). */
export const DIRECT_IO_ALIGNMENT = 4096;

// The global exists in Node; its type lives in TypeScript's DOM library, which this project
// does not load.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum?: number }) => { buffer: ArrayBuffer };
};

const WASM_PAGE = 64 * 1024;
const aligned = new WeakSet<ArrayBufferLike>();

/** A Buffer of `bytes` (rounded up to 64 KiB) whose first byte is page-aligned. */
export function allocAligned(bytes: number): Buffer {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  aligned.add(memory.buffer);
  return Buffer.from(memory.buffer, 0, bytes);
}

/**
 * Whether `data[offset, offset + length)` may be written with O_DIRECT at file `position`: it lies
 * in memory from allocAligned and memory address, position and length are all aligned.
 */
export function directIoEligible(
  data: Uint8Array,
  offset: number,
  length: number,
  position: number,
): boolean {
  const a = DIRECT_IO_ALIGNMENT;
  return (
    aligned.has(data.buffer) &&
    (data.byteOffset + offset) % a === 0 &&
    position % a === 0 &&
    length % a === 0 &&
    length > 0
  );
}
