// Exports an OVA in one pass over the HTTP download: the tar is read as it arrives, every disk
// file is hashed as stored (each chunk of a chunked file on its own), inflated when gzip-
// compressed, and decoded straight into a sparse raw image (streamOptimized VMDK, raw) or, for
// formats whose tables are not in stream order (monolithicSparse VMDK, qcow2), staged to scratch
// and converted by qemu-img. The archive itself is never stored. When the OVF (or manifest) comes
// after the disks, streamOptimized disks are decoded under provisional names and mapped /
// verified once the descriptor and manifest have been read.
import { open, mkdir, rename, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { DiskFormatError } from '../../disk/errors.ts';
import { UnsafeImageError } from '../../disk/foreign-image.ts';
import { MAX_MANIFEST_BYTES, MAX_OVA_PROVISIONAL_DISKS, MAX_OVF_BYTES } from '../../limits.ts';
import { SourceError } from '../source-error.ts';
import type { DiskExportPhase, ExportOptions, ExportedDisk, SourceVm } from '../types.ts';
import { ArchiveManifest, type StoredDiskFile } from './archive-manifest.ts';
import { gunzipBounded, peekHead } from './byte-streams.ts';
import { checkDiskSize, decodeDiskImage, maxImageFileBytes, type DecodedSize } from './disk-decode.ts';
import { storedDiskBytes, type StoredPart } from './disk-file-members.ts';
import { DISK_IMAGE_HEAD_BYTES, declaredFormat, sniffDiskImage } from './disk-image-kind.ts';
import { resolveOvaHttpSettings, type OvaSourceSpecLike, type SecretData } from './connection.ts';
import { ovaExportError } from './export-errors.ts';
import { DIGEST_ALGORITHMS, type DigestAlgorithm } from './manifest.ts';
import { digesting, MemberDigest } from './member-digest.ts';
import { openOvaDownload, type OvaDownload } from './ova-http.ts';
import { parseOvfDescriptor, type OvfDescriptor, type ParseOvfOptions } from './ovf-descriptor.ts';
import type { OvfDisk, OvfFile } from './ovf-disks.ts';
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

export interface OvaExportResult {
  vm: SourceVm;
  disks: ExportedDisk[];
  warnings: string[];
}

const PROGRESS_STEP_BYTES = 1024 * 1024;

/** A disk file decoded from the archive, before or after it was matched to an OVF disk. */
interface DecodedMember extends StoredDiskFile, DecodedSize {
  tmpPath: string;
  provisionalIndex: number;
  verified: boolean;
}

class OvaExport {
  private descriptor?: OvfDescriptor;
  private descriptorName = '';
  private descriptorDigest?: MemberDigest;
  private manifest?: ArchiveManifest;
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
      throw ovaExportError(err, bodyError, this.download, this.opts.scratchDir);
    } finally {
      this.download.close();
    }
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
        `the archive holds a second manifest "${name}"; only "${this.manifest.name}" is used`,
      );
      return drainEntry(entry);
    }
    const text = (await readSmall(entryBytes(entry), MAX_MANIFEST_BYTES, name)).toString('utf8');
    this.manifest = new ArchiveManifest(text, name);
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
    if (file?.chunkSizeBytes === undefined) this.manifest?.entryFor(name);
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
    const stored = storedDiskBytes(entry, members, {
      name,
      chunkSizeBytes: file?.chunkSizeBytes,
      algorithms: this.digestAlgorithms(),
      parts,
      whole,
      onBytes,
    });
    const bytes =
      file?.compression === 'gzip' && ovfDisk
        ? gunzipBounded(stored, maxImageFileBytes(ovfDisk.capacityBytes), name)
        : stored;
    const { head, stream } = await peekHead(bytes, DISK_IMAGE_HEAD_BYTES);
    const kind = sniffDiskImage(head, ovfDisk ? declaredFormat(ovfDisk.format, name) : 'vmdk', name);
    let decoded: DecodedSize;
    try {
      decoded = await decodeDiskImage(kind, stream, {
        name,
        ovfDisk,
        rawPath: tmpPath,
        stagePath: join(this.opts.scratchDir, `.ova-member-${provisionalIndex}.stage`),
        signal: this.opts.signal,
        onConverting: () => this.progress(index, 'converting', total, total),
      });
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

  /** The manifest's algorithms once it is known, else every one it could use. */
  private digestAlgorithms(): readonly DigestAlgorithm[] {
    return this.manifest?.algorithms() ?? DIGEST_ALGORITHMS;
  }

  private ovfDiskFor(name: string): OvfDisk | undefined {
    return this.descriptor?.disks.find((d) => d.file && posix.basename(d.file.href) === name);
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
      manifest.checkDiskFile(member);
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
      this.manifest.checkDescriptor(this.descriptorName, this.descriptorDigest);
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
