// Reads the VM description of an OVA without exporting it (for preflight checks such as network
// mapping): streams the archive only until its OVF descriptor has been read, then closes the
// connection. Nothing is written to disk. An OVF stored after the disks costs a download of the
// disks (discarded as they arrive), never scratch space.
import { posix } from 'node:path';
import { MAX_OVA_MEMBERS, MAX_OVF_BYTES } from '../../limits.ts';
import { SourceError } from '../source-error.ts';
import { resolveOvaHttpSettings, type OvaSourceSpecLike, type SecretData } from './connection.ts';
import { openOvaDownload } from './ova-http.ts';
import { parseOvfDescriptor, type OvfDescriptor, type ParseOvfOptions } from './ovf-descriptor.ts';
import { createTarExtract, drainEntry, entryBytes, feedTar, readSmall } from './tar-members.ts';

export async function readOvaDescriptor(
  spec: OvaSourceSpecLike,
  secretData?: SecretData,
  signal?: AbortSignal,
  select: ParseOvfOptions = {},
): Promise<OvfDescriptor> {
  return (await readDescriptor(spec, secretData, signal, select, false))!;
}

/**
 * The descriptor when it is the archive's first file (as the OVF standard puts it), else
 * undefined: costs one small read, never a download of disks.
 */
export async function readLeadingOvaDescriptor(
  spec: OvaSourceSpecLike,
  secretData?: SecretData,
  select: ParseOvfOptions = {},
): Promise<OvfDescriptor | undefined> {
  return readDescriptor(spec, secretData, undefined, select, true);
}

async function readDescriptor(
  spec: OvaSourceSpecLike,
  secretData: SecretData | undefined,
  signal: AbortSignal | undefined,
  select: ParseOvfOptions,
  leadingOnly: boolean,
): Promise<OvfDescriptor | undefined> {
  const settings = resolveOvaHttpSettings(spec, secretData);
  const download = await openOvaDownload(settings, signal);
  const extract = createTarExtract();
  let bodyError: unknown;
  download.body.once('error', (e) => (bodyError ??= e));
  // Stops by itself once the extract is destroyed below.
  feedTar(download.body, extract).catch(() => undefined);
  try {
    let members = 0;
    for await (const entry of extract) {
      if (++members > MAX_OVA_MEMBERS)
        throw new SourceError('InvalidOva', `the archive holds more than ${MAX_OVA_MEMBERS} files`);
      const name = posix.basename(entry.header.name);
      if (entry.header.type === 'file' && name.toLowerCase().endsWith('.ovf')) {
        return parseOvfDescriptor(
          (await readSmall(entryBytes(entry), MAX_OVF_BYTES, name, 'InvalidOvf')).toString('utf8'),
          select,
        );
      }
      if (leadingOnly && entry.header.type === 'file') return undefined;
      await drainEntry(entry);
    }
    throw new SourceError('InvalidOva', 'the archive holds no OVF descriptor (.ovf file)');
  } catch (err) {
    if (err instanceof SourceError) throw err;
    const mapped = download.toSourceError(bodyError ?? err);
    if (bodyError !== undefined || mapped.reason === 'Timeout' || mapped.reason === 'Aborted') throw mapped;
    throw new SourceError(
      'InvalidOva',
      `the file is not a valid OVA (tar) archive: ${(err as Error).message}`,
    );
  } finally {
    extract.destroy();
    download.close();
  }
}
