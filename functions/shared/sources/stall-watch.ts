// A download that delivers nothing for too long (a source unreachable behind a dropping firewall:
// no reset, only silence) is torn down instead of hanging the export forever. TCP recovers a short
// outage by itself (its retransmissions resume the same connection), so the limit is well above
// a brief cut (limits.ts DOWNLOAD_STALL_TIMEOUT_MS).
import { PassThrough, pipeline, type Readable } from 'node:stream';

/**
 * `source` as a stream that fails with `stalled()` when no byte arrives for `stallMs`. Waiting for
 * our own consumer (a slow disk) is not a stall. Destroying the returned stream destroys `source`
 * (and its socket).
 */
export function watchForStall(source: Readable, stallMs: number, stalled: () => Error): Readable {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (source.isPaused() || out.readableLength > 0) return arm();
      out.destroy(stalled());
    }, stallMs);
  };
  arm();
  source.on('data', arm);
  pipeline(source, out, () => clearTimeout(timer));
  out.on('close', () => {
    clearTimeout(timer);
    if (!source.destroyed) source.destroy();
  });
  return out;
}
