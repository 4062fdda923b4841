// What a failed OVA export tells the user: the SourceError its cause maps to.
import { DiskFormatError } from '../../disk/errors.ts';
import { UnsafeImageError } from '../../disk/foreign-image.ts';
import { isScratchFull, scratchFullError } from '../scratch-full.ts';
import { SourceError } from '../source-error.ts';
import type { OvaDownload } from './ova-http.ts';

/**
 * The SourceError for `err`, thrown while reading the download (`bodyError`: the download's own
 * stream error, if it had one). Local failures name only their code (their messages name
 * internal paths); `scratchDir` is hidden in a tar parser's message.
 */
export function ovaExportError(
  err: unknown,
  bodyError: unknown,
  download: OvaDownload,
  scratchDir: string,
): SourceError {
  if (err instanceof SourceError) return err;
  if (err instanceof DiskFormatError || err instanceof UnsafeImageError) {
    return new SourceError(err.reason, err.message);
  }
  const mapped = download.toSourceError(bodyError ?? err);
  if (bodyError !== undefined || mapped.reason === 'Timeout' || mapped.reason === 'Aborted') return mapped;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code !== 'ERR_STREAM_PREMATURE_CLOSE') {
    // A local failure (writing the scratch volume, a Node range check).
    if (isScratchFull(err)) return scratchFullError(err);
    return new SourceError('ExportFailed', `writing the disks to the scratch volume failed (${code})`);
  }
  // Not a transport failure: the bytes arrived but are not a tar archive.
  return new SourceError(
    'InvalidOva',
    `the file is not a valid OVA (tar) archive: ${(err as Error).message.replaceAll(scratchDir, '<scratch>')}`,
  );
}
