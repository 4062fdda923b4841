// Exports an OVA in one pass over the HTTP download: the tar is read as it arrives, every disk
// member is hashed and decoded straight into a sparse raw image, and the archive itself is never
// stored. When the OVF (or manifest) comes after the disks, disks are decoded under provisional
// names and mapped / verified once the descriptor and manifest have been read.
import { open, mkdir, rename, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { decodeStreamOptimizedVmdk, type DecodeResult } from '../../disk/vmdk-stream.ts';
import { DiskFormatError } from '../../disk/errors.ts';
import { SourceError } from '../source-error.ts';
import type { DiskExportPhase, ExportOptions, ExportedDisk, SourceVm } from '../types.ts';
import { resolveOvaHttpSettings, type OvaSourceSpecLike, type SecretData } from './connection.ts';
import { checkDigest, digesting, MemberDigest } from './member-digest.ts';
import { parseManifest, type ManifestEntry } from './manifest.ts';
import { openOvaDownload, type OvaDownload } from './ova-http.ts';
import {
  createTarExtract,
  drainEntry,
  entryBytes,
  feedTar,
  readSmall,
  type TarEntry,
} from './tar-members.ts';
import {
  STREAM_OPTIMIZED_FORMAT,
  parseOvfDescriptor,
  type OvfDescriptor,
  type OvfDisk,
} from './ovf-descriptor.ts';
import {
  MAX_DISK_SIZE_DISAGREEMENT_BYTES,
  MAX_MANIFEST_BYTES,
  MAX_OVA_MEMBERS,
  MAX_OVA_PROVISIONAL_DISKS,
  MAX_OVF_BYTES,
} from '../../limits.ts';

export interface OvaExportResult {
  vm: SourceVm;
  disks: ExportedDisk[];
  warnings: string[];
}

const PROGRESS_STEP_BYTES = 1024 * 1024;

/** A disk member decoded from the archive, before or after it was matched to an OVF disk. */
interface DecodedMember {
  name: string;
  tmpPath: string;
  digest: MemberDigest;
  decoded: DecodeResult;
  provisionalIndex: number;
  verified: boolean;
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
  private diskMembersSeen = 0;
  private current?: { index: number; total: number };

  constructor(
    private readonly opts: ExportOptions,
    private readonly download: OvaDownload,
  ) {}

  async run(): Promise<OvaExportResult> {
    const extract = createTarExtract();
    let bodyError: unknown;
    this.download.body.once('error', (e) => (bodyError ??= e));
    const pumping = feedTar(this.download.body, extract).catch((e: unknown) => e);
    try {
      for await (const entry of extract) await this.onEntry(entry);
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
    if (err instanceof DiskFormatError) {
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

  private membersSeen = 0;

  private async onEntry(entry: TarEntry): Promise<void> {
    const { header } = entry;
    if (++this.membersSeen > MAX_OVA_MEMBERS) {
      throw new SourceError('InvalidOva', `the archive holds more than ${MAX_OVA_MEMBERS} files`);
    }
    const base = posix.basename(header.name);
    if (header.type !== 'file' && header.type !== 'contiguous-file') return drainEntry(entry);
    const lower = base.toLowerCase();
    if (lower.endsWith('.ovf')) return this.onDescriptor(entry, base);
    if (lower.endsWith('.mf')) return this.onManifest(entry, base);
    if (this.isDiskMember(base)) return this.onDiskMember(entry, base);
    return drainEntry(entry);
  }

  private isDiskMember(base: string): boolean {
    if (this.descriptor)
      return this.descriptor.disks.some((d) => d.file && posix.basename(d.file.href) === base);
    return /\.vmdk$/i.test(base);
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
    const descriptor = parseOvfDescriptor(text);
    for (const disk of descriptor.disks) {
      if (disk.file && disk.format !== undefined && disk.format !== STREAM_OPTIMIZED_FORMAT) {
        throw new SourceError(
          'UnsupportedDiskFormat',
          `disk "${disk.file.href}" has format "${disk.format}"; only streamOptimized VMDKs (as ovftool and vSphere export them) are supported`,
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

  private async onDiskMember(entry: TarEntry, name: string): Promise<void> {
    if (this.members.has(name)) throw new SourceError('InvalidOva', `the archive holds "${name}" twice`);
    const ovfDisk = this.ovfDiskFor(name);
    if (!this.descriptor && this.diskMembersSeen >= MAX_OVA_PROVISIONAL_DISKS) {
      throw new SourceError(
        'InvalidOva',
        `the archive holds more than ${MAX_OVA_PROVISIONAL_DISKS} .vmdk files before its OVF descriptor; put the OVF first or remove unused disk files`,
      );
    }
    const provisionalIndex = this.diskMembersSeen++;
    const index = ovfDisk?.index ?? provisionalIndex;
    const total = entry.header.size ?? 0;
    const expected = this.manifestEntry(name);
    const digest = new MemberDigest(expected ? [expected.algorithm] : undefined);
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
    let decoded: DecodeResult;
    try {
      decoded = await decodeStreamOptimizedVmdk(digesting(entryBytes(entry), digest, onBytes), tmpPath, {
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        // Refused before anything is written when the OVF (read already) says another size.
        ...(ovfDisk ? { onHeader: (size: number) => checkDiskSize(name, size, ovfDisk.capacityBytes) } : {}),
      });
    } catch (err) {
      if (err instanceof DiskFormatError)
        throw new SourceError(err.reason, `disk file "${name}": ${err.message}`);
      throw err;
    }
    // The decoder stops after the end-of-stream marker; whatever follows is still part of the file.
    for await (const chunk of entryBytes(entry)) digest.update(chunk);
    digest.finish();
    if (digest.bytes !== total) {
      throw new SourceError(
        'InvalidOva',
        `disk file "${name}" ended after ${digest.bytes} of ${total} bytes`,
      );
    }
    const member: DecodedMember = { name, tmpPath, digest, decoded, provisionalIndex, verified: false };
    this.members.set(name, member);
    this.progress(index, 'verifying', total, total);
    this.verifyMember(member);
    this.current = undefined;
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

  private verifyMember(member: DecodedMember): void {
    const expected = this.manifestEntry(member.name);
    if (!expected || member.verified) return;
    try {
      checkDigest(member.name, member.digest, expected);
    } catch (err) {
      const index = this.ovfDiskFor(member.name)?.index ?? member.provisionalIndex;
      this.progress(index, 'failed', member.digest.bytes, member.digest.bytes);
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
        sizeBytes = member.decoded.virtualSizeBytes;
        allocatedBytes = member.decoded.allocatedBytes;
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
 * (sparse raw). Disks are checked against the manifest when the OVA has one. On failure every
 * file this call created is removed and a SourceError is thrown.
 */
export async function exportOva(
  spec: OvaSourceSpecLike,
  secretData: SecretData | undefined,
  opts: ExportOptions,
): Promise<OvaExportResult> {
  const settings = resolveOvaHttpSettings(spec, secretData);
  await mkdir(opts.scratchDir, { recursive: true });
  const download = await openOvaDownload(settings, opts.signal);
  return new OvaExport(opts, download).run();
}
