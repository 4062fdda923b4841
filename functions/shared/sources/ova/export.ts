// Exports an OVA in one pass over the HTTP download: the tar is read as it arrives, every disk
// file is hashed as stored (each chunk of a chunked file on its own), inflated when gzip-
// compressed, and decoded straight into a sparse raw image (streamOptimized VMDK, raw) or, for
// formats whose tables are not in stream order (monolithicSparse VMDK, qcow2), staged to scratch
// and converted by qemu-img. The archive itself is never stored. When the OVF (or manifest) comes
// after the disks, streamOptimized disks are decoded under provisional names and mapped /
// verified once the descriptor and manifest have been read.
import { createWriteStream } from 'node:fs';
import { open, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeStreamOptimizedVmdk } from '../../disk/vmdk-stream.ts';
import { DiskFormatError } from '../../disk/errors.ts';
import { convertForeignImage, UnsafeImageError } from '../../disk/foreign-image.ts';
import { writeSparseRaw } from '../../disk/sparse-raw.ts';
import { SourceError } from '../source-error.ts';
import type { DiskExportPhase, ExportOptions, ExportedDisk, SourceVm } from '../types.ts';
import { resolveOvaHttpSettings, type OvaSourceSpecLike, type SecretData } from './connection.ts';
import { boundedBytes, gunzipBounded, peekHead } from './byte-streams.ts';
import {
  DISK_IMAGE_HEAD_BYTES,
  declaredFormat,
  sniffDiskImage,
  type DiskImageKind,
} from './disk-image-kind.ts';
import { checkDigest, digesting, MemberDigest } from './member-digest.ts';
import { DIGEST_ALGORITHMS, parseManifest, type DigestAlgorithm, type ManifestEntry } from './manifest.ts';
import { openOvaDownload, type OvaDownload } from './ova-http.ts';
import {
  chunkName,
  createTarExtract,
  drainEntry,
  entryBytes,
  feedTar,
  readSmall,
  TarMembers,
  type TarEntry,
} from './tar-members.ts';
import {
  parseOvfDescriptor,
  type OvfDescriptor,
  type OvfDisk,
  type OvfFile,
  type ParseOvfOptions,
} from './ovf-descriptor.ts';
import {
  MAX_DISK_IMAGE_OVERHEAD_BYTES,
  MAX_DISK_IMAGE_OVERHEAD_FRACTION,
  MAX_DISK_SIZE_DISAGREEMENT_BYTES,
  MAX_MANIFEST_BYTES,
  MAX_OVA_PROVISIONAL_DISKS,
  MAX_OVF_BYTES,
} from '../../limits.ts';

export interface OvaExportResult {
  vm: SourceVm;
  disks: ExportedDisk[];
  warnings: string[];
}

const PROGRESS_STEP_BYTES = 1024 * 1024;

/** One tar member of a disk file as stored: the whole file, or one of its chunks. */
interface StoredPart {
  name: string;
  digest: MemberDigest;
}

/** A disk file decoded from the archive, before or after it was matched to an OVF disk. */
interface DecodedMember {
  /** The file's name (its href's last segment). */
  name: string;
  tmpPath: string;
  /** Its tar members in order: one, or the chunks `<name>.000000000`, … */
  parts: StoredPart[];
  /** Digest of all chunks joined, for a manifest that lists the file instead of its chunks. */
  whole?: MemberDigest;
  virtualSizeBytes: number;
  allocatedBytes: number;
  provisionalIndex: number;
  verified: boolean;
}

/** The most bytes an image file of a disk of `capacityBytes` may hold (limits.ts). */
function maxImageFileBytes(capacityBytes: number): number {
  return Math.ceil(capacityBytes * (1 + MAX_DISK_IMAGE_OVERHEAD_FRACTION)) + MAX_DISK_IMAGE_OVERHEAD_BYTES;
}

class OvaExport {
  private descriptor?: OvfDescriptor;
  private descriptorName = '';
  private descriptorDigest?: MemberDigest;
  private manifest?: Map<string, ManifestEntry>;
  private manifestName = '';
  private readonly members = new Map<string, DecodedMember>();
  private readonly createdFiles = new Set<string>();
  private readonly warnings: string[] = [];
  /** Members drained before the OVF said what they are (only .vmdk members are decoded then). */
  private readonly drainedBeforeOvf = new Set<string>();
  private diskMembersSeen = 0;
  private current?: { index: number; total: number };

  constructor(
    private readonly opts: ExportOptions,
    private readonly download: OvaDownload,
    private readonly select: ParseOvfOptions,
  ) {}

  async run(): Promise<OvaExportResult> {
    const extract = createTarExtract();
    let bodyError: unknown;
    this.download.body.once('error', (e) => (bodyError ??= e));
    const pumping = feedTar(this.download.body, extract).catch((e: unknown) => e);
    try {
      const members = new TarMembers(extract);
      for (let entry = await members.next(); entry; entry = await members.next()) {
        await this.onEntry(entry, members);
      }
      const pumpError = await pumping;
      if (pumpError) throw pumpError;
      return await this.finish();
    } catch (err) {
      extract.destroy();
      this.download.close();
      await this.removeCreatedFiles();
      if (this.current) this.progress(this.current.index, 'failed', 0, this.current.total);
      throw this.classify(err, bodyError);
    } finally {
      this.download.close();
    }
  }

  private classify(err: unknown, bodyError: unknown): SourceError {
    if (err instanceof SourceError) return err;
    if (err instanceof DiskFormatError || err instanceof UnsafeImageError) {
      return new SourceError(err.reason, err.message);
    }
    const mapped = this.download.toSourceError(bodyError ?? err);
    if (bodyError !== undefined || mapped.reason === 'Timeout' || mapped.reason === 'Aborted') return mapped;
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== 'ERR_STREAM_PREMATURE_CLOSE') {
      // A local failure (writing the scratch volume, a Node range check): its message names
      // internal paths, so only its code is reported.
      return new SourceError(
        code === 'ENOSPC' || code === 'EDQUOT' ? 'ScratchVolumeFull' : 'ExportFailed',
        code === 'ENOSPC' || code === 'EDQUOT'
          ? 'the scratch volume is full: the disks hold more data than the OVA size suggested; raise SCRATCH_SIZE_FACTOR or SCRATCH_MIN_GIB'
          : `writing the disks to the scratch volume failed (${code})`,
        { retryable: code === 'ENOSPC' || code === 'EDQUOT' },
      );
    }
    // Not a transport failure: the bytes arrived but are not a tar archive.
    return new SourceError(
      'InvalidOva',
      `the file is not a valid OVA (tar) archive: ${(err as Error).message.replaceAll(this.opts.scratchDir, '<scratch>')}`,
    );
  }

  private async onEntry(entry: TarEntry, members: TarMembers): Promise<void> {
    const { header } = entry;
    const base = posix.basename(header.name);
    if (header.type !== 'file' && header.type !== 'contiguous-file') return drainEntry(entry);
    const lower = base.toLowerCase();
    if (lower.endsWith('.ovf')) return this.onDescriptor(entry, base);
    if (lower.endsWith('.mf')) return this.onManifest(entry, base);
    if (this.descriptor) {
      const disk = this.ovfDiskForMember(base);
      if (disk?.file) return this.onDiskMember(entry, members, posix.basename(disk.file.href), disk);
      const chunked = this.descriptor.disks.find(
        (d) => d.file?.chunkSizeBytes !== undefined && base.startsWith(`${posix.basename(d.file.href)}.`),
      );
      if (chunked?.file && /\.\d{9}$/.test(base)) {
        throw new SourceError(
          'InvalidOva',
          `"${base}" is a chunk of "${chunked.file.href}" out of order: a file's chunks must follow each other, from .000000000 on`,
        );
      }
      return drainEntry(entry);
    }
    if (/\.vmdk$/i.test(base)) return this.onDiskMember(entry, members, base, undefined);
    this.drainedBeforeOvf.add(base);
    return drainEntry(entry);
  }

  /** The OVF disk whose file (or, chunked, whose first chunk) is the member `base`. */
  private ovfDiskForMember(base: string): OvfDisk | undefined {
    return this.descriptor?.disks.find((d) => d.file && firstMemberName(d.file) === base);
  }

  private async onDescriptor(entry: TarEntry, name: string): Promise<void> {
    if (this.descriptor) {
      this.warnings.push(
        `the archive holds a second descriptor "${name}"; only "${this.descriptorName}" is used`,
      );
      return drainEntry(entry);
    }
    const digest = new MemberDigest();
    const text = (
      await readSmall(digesting(entryBytes(entry), digest), MAX_OVF_BYTES, name, 'InvalidOvf')
    ).toString('utf8');
    digest.finish();
    const descriptor = parseOvfDescriptor(text, this.select);
    for (const disk of descriptor.disks) {
      if (!disk.file) continue;
      declaredFormat(disk.format, disk.file.href);
      const first = firstMemberName(disk.file);
      if (this.drainedBeforeOvf.has(first)) {
        throw new SourceError(
          'UnsupportedOva',
          `disk file "${first}" comes before the OVF descriptor in the archive; a disk file that is compressed, chunked or not a .vmdk can only be read after the OVF (which the OVF standard puts first): repack the OVA with the .ovf first`,
        );
      }
    }
    this.descriptor = descriptor;
    this.descriptorName = name;
    this.descriptorDigest = digest;
    for (const disk of descriptor.disks) {
      if (!disk.file || !this.members.has(posix.basename(disk.file.href))) {
        this.progress(disk.index, 'pending', 0, disk.file?.sizeBytes ?? 0);
      }
    }
  }

  private async onManifest(entry: TarEntry, name: string): Promise<void> {
    if (this.manifest) {
      this.warnings.push(
        `the archive holds a second manifest "${name}"; only "${this.manifestName}" is used`,
      );
      return drainEntry(entry);
    }
    const text = (await readSmall(entryBytes(entry), MAX_MANIFEST_BYTES, name)).toString('utf8');
    this.manifest = parseManifest(text, name);
    this.manifestName = name;
    // Members that streamed past before the manifest: check them now rather than at the end.
    for (const member of this.members.values()) this.verifyMember(member);
  }

  private async onDiskMember(
    entry: TarEntry,
    members: TarMembers,
    name: string,
    ovfDisk: OvfDisk | undefined,
  ): Promise<void> {
    if (this.members.has(name)) throw new SourceError('InvalidOva', `the archive holds "${name}" twice`);
    if (!this.descriptor && this.diskMembersSeen >= MAX_OVA_PROVISIONAL_DISKS) {
      throw new SourceError(
        'InvalidOva',
        `the archive holds more than ${MAX_OVA_PROVISIONAL_DISKS} .vmdk files before its OVF descriptor; put the OVF first or remove unused disk files`,
      );
    }
    const file = ovfDisk?.file;
    // A file the manifest does not list is refused before it is downloaded (a chunked one once
    // its chunks are known: the manifest may list them or the whole file).
    if (file?.chunkSizeBytes === undefined) this.manifestEntry(name);
    const provisionalIndex = this.diskMembersSeen++;
    const index = ovfDisk?.index ?? provisionalIndex;
    const total = file?.sizeBytes ?? entry.header.size ?? 0;
    const tmpPath = join(this.opts.scratchDir, `.ova-member-${provisionalIndex}.raw`);
    this.createdFiles.add(tmpPath);
    this.current = { index, total };
    let reported = 0;
    this.progress(index, 'exporting', 0, total);
    const onBytes = (bytes: number) => {
      if (bytes - reported >= PROGRESS_STEP_BYTES || bytes === total) {
        reported = bytes;
        this.progress(index, 'exporting', bytes, total);
      }
    };
    const parts: StoredPart[] = [];
    const whole = file?.chunkSizeBytes !== undefined ? new MemberDigest(this.digestAlgorithms()) : undefined;
    const stored = this.storedBytes(entry, members, name, file, parts, whole, onBytes);
    const bytes =
      file?.compression === 'gzip' && ovfDisk
        ? gunzipBounded(stored, maxImageFileBytes(ovfDisk.capacityBytes), name)
        : stored;
    const { head, stream } = await peekHead(bytes, DISK_IMAGE_HEAD_BYTES);
    const kind = sniffDiskImage(head, ovfDisk ? declaredFormat(ovfDisk.format, name) : 'vmdk', name);
    let decoded: { virtualSizeBytes: number; allocatedBytes: number };
    try {
      decoded = await this.decode(kind, stream, name, ovfDisk, provisionalIndex, () =>
        this.progress(index, 'converting', total, total),
      );
    } catch (err) {
      if (err instanceof DiskFormatError || err instanceof UnsafeImageError)
        throw new SourceError(
          err.reason,
          err.message.includes(name) ? err.message : `disk file "${name}": ${err.message}`,
        );
      throw err;
    }
    // A VMDK's decoder stops after its end-of-stream marker; whatever follows still counts for the digests.
    for await (const chunk of stream) void chunk;
    const member: DecodedMember = {
      name,
      tmpPath,
      parts,
      ...(whole ? { whole } : {}),
      ...decoded,
      provisionalIndex,
      verified: false,
    };
    this.members.set(name, member);
    this.progress(index, 'verifying', total, total);
    this.verifyMember(member);
    this.current = undefined;
  }

  /**
   * The stored bytes of a disk file: its tar member, or (ovf:chunkSize) its chunk members in
   * order, taken from `members` as they come. Each member is hashed as stored; `parts` receives
   * them, `whole` the chunks joined.
   */
  private async *storedBytes(
    first: TarEntry,
    members: TarMembers,
    name: string,
    file: OvfFile | undefined,
    parts: StoredPart[],
    whole: MemberDigest | undefined,
    onBytes: (bytes: number) => void,
  ): AsyncGenerator<Uint8Array> {
    const chunkSize = file?.chunkSizeBytes;
    let entry = first;
    let bytes = 0;
    for (let i = 0; ; i++) {
      const partName = chunkSize === undefined ? name : chunkName(name, i);
      const digest = new MemberDigest(this.digestAlgorithms());
      for await (const chunk of entryBytes(entry)) {
        digest.update(chunk);
        whole?.update(chunk);
        bytes += chunk.byteLength;
        onBytes(bytes);
        yield chunk;
      }
      digest.finish();
      const expected = entry.header.size ?? 0;
      if (digest.bytes !== expected) {
        throw new SourceError(
          'InvalidOva',
          `disk file "${partName}" ended after ${digest.bytes} of ${expected} bytes`,
        );
      }
      parts.push({ name: partName, digest });
      if (chunkSize === undefined) return;
      const next = await members.next();
      const continues =
        next !== undefined &&
        (next.header.type === 'file' || next.header.type === 'contiguous-file') &&
        posix.basename(next.header.name) === chunkName(name, i + 1);
      if (next !== undefined && !continues) members.putBack(next);
      if (continues ? digest.bytes !== chunkSize : digest.bytes === 0 || digest.bytes > chunkSize) {
        throw new SourceError(
          'InvalidOva',
          `chunk "${partName}" holds ${digest.bytes} bytes; ovf:chunkSize says every chunk but the last holds ${chunkSize} bytes (and the last at most that)`,
        );
      }
      if (!continues) {
        whole?.finish();
        return;
      }
      entry = next;
    }
  }

  /** Writes the disk image in `stream` as the sparse raw file of member `provisionalIndex`. */
  private async decode(
    kind: DiskImageKind,
    stream: AsyncIterable<Uint8Array>,
    name: string,
    ovfDisk: OvfDisk | undefined,
    provisionalIndex: number,
    onConverting: () => void,
  ): Promise<{ virtualSizeBytes: number; allocatedBytes: number }> {
    const tmpPath = join(this.opts.scratchDir, `.ova-member-${provisionalIndex}.raw`);
    const signal = this.opts.signal;
    if (kind === 'streamOptimizedVmdk') {
      return decodeStreamOptimizedVmdk(stream, tmpPath, {
        ...(signal ? { signal } : {}),
        // Refused before anything is written when the OVF (read already) says another size.
        ...(ovfDisk ? { onHeader: (size: number) => checkDiskSize(name, size, ovfDisk.capacityBytes) } : {}),
      });
    }
    if (!ovfDisk) {
      throw new SourceError(
        'UnsupportedOva',
        `disk file "${name}" comes before the OVF descriptor and is not a streamOptimized VMDK; only those can be read before the OVF (which the OVF standard puts first): repack the OVA with the .ovf first`,
      );
    }
    if (kind === 'raw') {
      const r = await writeSparseRaw(stream, tmpPath, {
        maxBytes: ovfDisk.capacityBytes + MAX_DISK_SIZE_DISAGREEMENT_BYTES,
        ...(signal ? { signal } : {}),
      });
      return { virtualSizeBytes: r.sizeBytes, allocatedBytes: r.allocatedBytes };
    }
    // monolithicSparse VMDK and qcow2 keep their tables apart from the data: stage, then convert.
    const stagePath = join(this.opts.scratchDir, `.ova-member-${provisionalIndex}.stage`);
    this.createdFiles.add(stagePath);
    const limit = maxImageFileBytes(ovfDisk.capacityBytes);
    try {
      await pipeline(
        Readable.from(
          boundedBytes(
            stream,
            limit,
            () =>
              new SourceError(
                'InvalidOva',
                `disk file "${name}" holds more than ${limit} bytes, more than an image of its ${ovfDisk.capacityBytes}-byte disk can`,
              ),
          ),
        ),
        createWriteStream(stagePath),
        ...(signal ? [{ signal }] : []),
      );
      onConverting();
      const { virtualSizeBytes } = await convertForeignImage(
        stagePath,
        kind === 'qcow2' ? 'qcow2' : 'vmdk',
        tmpPath,
        `disk file "${name}"`,
        signal,
      );
      checkDiskSize(name, virtualSizeBytes, ovfDisk.capacityBytes);
      const st = await stat(tmpPath);
      return { virtualSizeBytes, allocatedBytes: Math.min(st.blocks * 512, st.size) };
    } finally {
      await rm(stagePath, { force: true });
      this.createdFiles.delete(stagePath);
    }
  }

  /** The manifest's algorithms once it is known, else every one it could use. */
  private digestAlgorithms(): readonly DigestAlgorithm[] {
    if (!this.manifest) return DIGEST_ALGORITHMS;
    return [...new Set([...this.manifest.values()].map((e) => e.algorithm))];
  }

  private ovfDiskFor(name: string): OvfDisk | undefined {
    return this.descriptor?.disks.find((d) => d.file && posix.basename(d.file.href) === name);
  }

  private manifestEntry(name: string): ManifestEntry | undefined {
    if (!this.manifest) return undefined;
    const entry = this.manifest.get(name);
    if (entry === undefined) {
      throw new SourceError(
        'ManifestIncomplete',
        `the manifest "${this.manifestName}" has no checksum for "${name}", so the file cannot be verified`,
      );
    }
    return entry;
  }

  /**
   * Checks a disk file against the manifest (when there is one): each stored member by its own
   * entry, or a chunked file whose chunks the manifest does not list by the entry of the file.
   */
  private verifyMember(member: DecodedMember): void {
    const manifest = this.manifest;
    if (!manifest || member.verified) return;
    const index = this.ovfDiskFor(member.name)?.index ?? member.provisionalIndex;
    const bytes = member.parts.reduce((n, p) => n + p.digest.bytes, 0);
    try {
      const fileEntry = manifest.get(member.name);
      if (member.whole && fileEntry && !member.parts.every((p) => manifest.has(p.name))) {
        checkDigest(member.name, member.whole, fileEntry);
      } else {
        for (const part of member.parts) {
          const expected = this.manifestEntry(part.name);
          if (expected) checkDigest(part.name, part.digest, expected);
        }
      }
    } catch (err) {
      this.progress(index, 'failed', bytes, bytes);
      throw err;
    }
    member.verified = true;
  }

  private async finish(): Promise<OvaExportResult> {
    const descriptor = this.descriptor;
    if (!descriptor) throw new SourceError('InvalidOva', 'the archive holds no OVF descriptor (.ovf file)');
    if (this.manifest) {
      const ovfEntry = this.manifest.get(this.descriptorName);
      // A manifest that leaves out the OVF protects nothing: the OVF names the disks and sizes.
      if (!ovfEntry)
        throw new SourceError(
          'ManifestIncomplete',
          `the manifest "${this.manifestName}" has no checksum for the descriptor "${this.descriptorName}", so it cannot be verified`,
        );
      if (this.descriptorDigest) checkDigest(this.descriptorName, this.descriptorDigest, ovfEntry);
      for (const member of this.members.values()) this.verifyMember(member);
    } else {
      this.warnings.push('the OVA has no manifest (.mf); its files could not be checked against checksums');
    }

    const used = new Set<string>();
    const exported: ExportedDisk[] = [];
    const vmDisks = [...descriptor.vm.disks];
    for (const disk of descriptor.disks) {
      const path = join(this.opts.scratchDir, `disk-${disk.index}.raw`);
      let sizeBytes: number;
      let allocatedBytes: number;
      if (!disk.file) {
        sizeBytes = disk.capacityBytes;
        allocatedBytes = 0;
        this.createdFiles.add(path);
        await createBlankImage(path, sizeBytes);
        this.warnings.push(`${disk.label} has no disk file in the OVA; it is imported as an empty disk`);
      } else {
        const name = posix.basename(disk.file.href);
        const member = this.members.get(name);
        if (!member) {
          throw new SourceError(
            'DiskFileMissing',
            `the OVF names disk file "${disk.file.href}", but the archive does not hold it`,
          );
        }
        used.add(name);
        sizeBytes = member.virtualSizeBytes;
        allocatedBytes = member.allocatedBytes;
        checkDiskSize(name, sizeBytes, disk.capacityBytes);
        if (sizeBytes !== disk.capacityBytes) {
          this.warnings.push(
            `disk file "${name}" holds ${sizeBytes} bytes but the OVF says ${disk.capacityBytes}; using the file's size`,
          );
        }
        this.createdFiles.add(path);
        await rename(member.tmpPath, path);
        this.createdFiles.delete(member.tmpPath);
      }
      vmDisks[disk.index] = { ...vmDisks[disk.index]!, sizeBytes, allocatedBytes };
      exported.push({
        index: disk.index,
        path,
        sizeBytes,
        allocatedBytes,
        ...(disk.bus ? { bus: disk.bus } : {}),
      });
      this.progress(disk.index, 'done', disk.file?.sizeBytes ?? sizeBytes, disk.file?.sizeBytes ?? sizeBytes);
    }
    for (const member of this.members.values()) {
      if (used.has(member.name)) continue;
      await rm(member.tmpPath, { force: true });
      this.createdFiles.delete(member.tmpPath);
      this.warnings.push(`"${member.name}" is in the archive but no disk of the OVF uses it; ignored`);
    }
    return {
      vm: { ...descriptor.vm, disks: vmDisks },
      disks: exported,
      warnings: [...descriptor.warnings, ...this.warnings],
    };
  }

  private progress(index: number, phase: DiskExportPhase, bytesDone: number, bytesTotal: number): void {
    this.opts.onProgress?.({ index, phase, bytesDone, bytesTotal });
  }

  private async removeCreatedFiles(): Promise<void> {
    await Promise.allSettled([...this.createdFiles].map((p) => rm(p, { force: true })));
    this.createdFiles.clear();
  }
}

/**
 * The OVF's capacity and the VMDK header's must agree (up to MAX_DISK_SIZE_DISAGREEMENT_BYTES of
 * unit rounding): when they do not, one of them is wrong and no size can be trusted.
 */
function checkDiskSize(name: string, vmdkBytes: number, ovfBytes: number): void {
  if (Math.abs(vmdkBytes - ovfBytes) <= MAX_DISK_SIZE_DISAGREEMENT_BYTES) return;
  throw new SourceError(
    'DiskSizeMismatch',
    `disk file "${name}" holds a disk of ${vmdkBytes} bytes but the OVF gives it a capacity of ${ovfBytes} bytes; one of the two is wrong: export the OVA again`,
  );
}

async function createBlankImage(path: string, sizeBytes: number): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.truncate(sizeBytes);
  } finally {
    await file.close();
  }
}

/**
 * Downloads the OVA at `spec.url` once and writes each disk as `<scratchDir>/disk-<index>.raw`
 * (sparse raw). Disks are checked against the manifest when the OVA has one. `select` picks the
 * VM of a vApp (ParseOvfOptions). On failure every
 * file this call created is removed and a SourceError is thrown.
 */
export async function exportOva(
  spec: OvaSourceSpecLike,
  secretData: SecretData | undefined,
  opts: ExportOptions,
  select: ParseOvfOptions = {},
): Promise<OvaExportResult> {
  const settings = resolveOvaHttpSettings(spec, secretData);
  await mkdir(opts.scratchDir, { recursive: true });
  const download = await openOvaDownload(settings, opts.signal);
  return new OvaExport(opts, download, select).run();
}

/** The archive member a disk file starts with: the file itself, or its first chunk. */
function firstMemberName(file: OvfFile): string {
  const name = posix.basename(file.href);
  return file.chunkSizeBytes === undefined ? name : chunkName(name, 0);
}
