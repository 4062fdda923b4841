// In-memory state of the simulated cloud (Keystone tokens, Nova servers, Cinder volumes and
// snapshots, Glance images, Neutron networks) with the asynchronous status changes of the real
// services. Disk data lives in sparse raw files under the work directory; every copy the real cloud
// would make (snapshot, volume from snapshot, upload to image, server snapshot) is a real copy.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cachedDiskContent, writeDiskContent } from '../disk-content.ts';
import type { Inventory, InventoryOpenstackServer } from '../inventory.ts';

export const GIB = 1024 * 1024 * 1024;

export interface OpenstackFaults {
  /** Duration of each asynchronous status step of volumes, snapshots and images (ms). */
  transitionMs?: number;
  /** How long `os-stop` (`os-start`) takes before the server is SHUTOFF (ACTIVE) (ms). */
  stopMs?: number;
  /** Lifetime of tokens issued from now on (ms). */
  tokenLifetimeMs?: number;
  /** The next N snapshots / volumes / volume uploads / server images end in an error state. */
  failNext?: { snapshot?: number; volume?: number; upload?: number; serverImage?: number };
  /** Answer matching requests with an error status, `times` times (default once). */
  httpErrors?: Array<{ method?: string; path: string; status?: number; times?: number }>;
  /** Never finish deleting volumes (they stay `deleting`), to exercise cleanup timeouts. */
  stickyVolumeDelete?: boolean;
}

export interface Token {
  id: string;
  expiresAt: number;
  issuedAt: number;
  auditId: string;
}

export interface Network {
  id: string;
  name: string;
  subnetId: string;
}

export interface Port {
  id: string;
  networkId: string;
  mac: string;
  ip?: string;
}

export interface Attachment {
  serverId: string;
  device: string;
  attachmentId: string;
  attachedAt: string;
}

export interface Volume {
  id: string;
  name: string;
  description: string | null;
  size: number;
  status: string;
  bootable: boolean;
  imageMetadata: Record<string, string>;
  attachments: Attachment[];
  snapshotId: string | null;
  path: string;
  createdAt: string;
  updatedAt: string;
}

export interface Snapshot {
  id: string;
  name: string;
  description: string | null;
  volumeId: string;
  size: number;
  status: string;
  path: string;
  createdAt: string;
  updatedAt: string;
}

export interface Image {
  id: string;
  name: string;
  status: string;
  diskFormat: string;
  containerFormat: string;
  size: number | null;
  virtualSize: number | null;
  checksum: string | null;
  /** sha512 of the data (Glance `os_hash_value`). */
  hashValue: string | null;
  path: string | null;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface Server {
  id: string;
  name: string;
  status: string;
  taskState: string | null;
  flavor: { id: string; name: string; vcpus: number; ram: number; disk: number };
  description: string | null;
  volumeIds: string[];
  /** Glance image the server booted from ('' for volume-booted servers). */
  imageId: string;
  /** Local (ephemeral) root disk of an image-booted server. */
  rootDiskPath: string | null;
  rootDiskFormat: 'raw' | 'qcow2';
  ports: Port[];
  createdAt: string;
  updatedAt: string;
}

/** A Cinder user message (Block Storage API `/messages`, microversion 3.3). */
export interface UserMessage {
  id: string;
  resourceType: 'VOLUME' | 'VOLUME_SNAPSHOT';
  resourceUuid: string;
  eventId: string;
  userMessage: string;
  requestId: string;
  createdAt: string;
}

/** A UUID derived from a name, stable across restarts (same idea as UUIDv5). */
export function stableUuid(name: string): string {
  const h = createHash('sha1').update(`openstack-simulator:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, '.000000');
const diskLetter = (i: number): string => `/dev/vd${String.fromCharCode(97 + i)}`;

/** Copies a sparse file keeping its holes. */
async function copySparse(from: string, to: string): Promise<void> {
  await execa('cp', ['--sparse=always', from, to]);
}

/**
 * How the cloud's storage backend copies data: 'copy' like Cinder's LVM driver (a full copy for
 * a snapshot, a volume from a snapshot and an upload to Glance), 'clone' like a Ceph RBD backend
 * shared with Glance (copy-on-write clones: instant, no data moved). Data files are never written
 * after they are made, so a clone is a hard link.
 */
export type StorageBackend = 'copy' | 'clone';

export interface ModelOptions {
  workDir: string;
  /** Disk format of images made by `createImage` (libvirt makes qcow2; raw is simpler). */
  serverImageFormat?: 'raw' | 'qcow2';
  /** Default 'copy'. */
  storage?: StorageBackend;
  /** Take volume content from this disk-content cache (shared with vcsim) instead of writing it. */
  diskCacheDir?: string;
}

export class CloudModel {
  readonly region: string;
  readonly projectId = stableUuid('project');
  readonly userId = stableUuid('user');
  readonly domainId = 'default';
  readonly tokens = new Map<string, Token>();
  readonly networks: Network[] = [];
  readonly servers = new Map<string, Server>();
  readonly volumes = new Map<string, Volume>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly images = new Map<string, Image>();
  readonly messages: UserMessage[] = [];
  faults: OpenstackFaults = {};
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly dataDir: string;
  private readonly serverImageFormat: 'raw' | 'qcow2';
  private readonly storage: StorageBackend;
  private readonly diskCacheDir: string | undefined;
  private stopped = false;
  /** Data files that hold the same bytes share a content key, so each content is hashed once. */
  private readonly contentKeys = new Map<string, string>();
  private readonly hashes = new Map<string, Promise<{ md5: string; sha512: string }>>();

  constructor(
    private readonly inventory: NonNullable<Inventory['openstack']>,
    options: ModelOptions,
  ) {
    this.region = inventory.region;
    this.dataDir = join(options.workDir, 'data');
    this.serverImageFormat = options.serverImageFormat ?? 'raw';
    this.storage = options.storage ?? 'copy';
    this.diskCacheDir = options.diskCacheDir;
  }

  get transitionMs(): number {
    return this.faults.transitionMs ?? 30;
  }

  async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    for (const name of this.inventory.networks)
      this.networks.push({ id: stableUuid(`net:${name}`), name, subnetId: stableUuid(`subnet:${name}`) });
    for (const [index, s] of this.inventory.servers.entries()) await this.loadServer(s, index);
  }

  private network(name: string): Network {
    let net = this.networks.find((n) => n.name === name);
    if (!net) {
      net = { id: stableUuid(`net:${name}`), name, subnetId: stableUuid(`subnet:${name}`) };
      this.networks.push(net);
    }
    return net;
  }

  private async loadServer(s: InventoryOpenstackServer, index: number): Promise<void> {
    // Nova allows several servers of one name: the position keeps their generated ids apart.
    const id = s.id ?? stableUuid(`server:${index}:${s.name}`);
    const t = now();
    const flavorDiskGiB = s.rootDisk ? Math.ceil((s.rootDisk.sizeMiB * 1024 * 1024) / GIB) : 0;
    const server: Server = {
      id,
      name: s.name,
      status: s.status,
      taskState: null,
      flavor: {
        id: stableUuid(`flavor:${s.flavor.vcpus}:${s.flavor.ramMiB}:${flavorDiskGiB}`),
        name: `sim.${s.flavor.vcpus}c${s.flavor.ramMiB}m${flavorDiskGiB}g`,
        vcpus: s.flavor.vcpus,
        ram: s.flavor.ramMiB,
        disk: flavorDiskGiB,
      },
      description: s.description ?? null,
      volumeIds: [],
      imageId: '',
      rootDiskPath: null,
      rootDiskFormat: this.serverImageFormat,
      ports: s.ports.map((p, i) => ({
        id: stableUuid(`port:${id}:${i}`),
        networkId: this.network(p.network).id,
        mac: (p.mac ?? `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`).toLowerCase(),
        ...(p.ip ? { ip: p.ip } : {}),
      })),
      createdAt: t,
      updatedAt: t,
    };
    if (s.bootFromImage) {
      const root = s.rootDisk ?? { sizeMiB: 1024, allocatedPercent: 0, seed: 0 };
      const base: Image = {
        id: stableUuid(`base-image:${id}`),
        name: `${s.name}-base`,
        status: 'active',
        diskFormat: 'raw',
        containerFormat: 'bare',
        size: 0,
        virtualSize: 0,
        checksum: null,
        hashValue: null,
        path: null,
        properties: {},
        createdAt: t,
        updatedAt: t,
      };
      this.images.set(base.id, base);
      server.imageId = base.id;
      server.rootDiskPath = join(this.dataDir, `server-${id}-root.raw`);
      await writeDiskContent(server.rootDiskPath, root);
      await truncate(server.rootDiskPath, server.flavor.disk * GIB);
    }
    // Devices: the bootable volume is vda for volume-booted servers; the rest follow in order.
    const bootIndex = s.bootFromImage
      ? -1
      : Math.max(
          0,
          s.volumes.findIndex((v) => v.bootable),
        );
    let next = 1; // vda is the boot disk (root volume or local root disk)
    for (const [i, v] of s.volumes.entries()) {
      const volId = stableUuid(`volume:${id}:${i}`);
      const path = join(this.dataDir, `volume-${volId}.raw`);
      const size = Math.ceil((v.sizeMiB * 1024 * 1024) / GIB);
      if (this.diskCacheDir && v.sizeMiB * 1024 * 1024 === size * GIB)
        await this.copy(await cachedDiskContent(this.diskCacheDir, v), path);
      else {
        await rm(path, { force: true }); // it may be a clone of a cached file: never write through it
        await writeDiskContent(path, v);
        await truncate(path, size * GIB);
      }
      const device = i === bootIndex ? diskLetter(0) : diskLetter(next++);
      this.volumes.set(volId, {
        id: volId,
        name: `${s.name}-volume-${i}`,
        description: null,
        size,
        status: 'in-use',
        bootable: v.bootable,
        imageMetadata: v.bootable || Object.keys(v.imageProperties).length ? { ...v.imageProperties } : {},
        attachments: [{ serverId: id, device, attachmentId: stableUuid(`attach:${volId}`), attachedAt: t }],
        snapshotId: null,
        path,
        createdAt: t,
        updatedAt: t,
      });
      server.volumeIds.push(volId);
    }
    this.servers.set(id, server);
  }

  // ---- time ---------------------------------------------------------------------------------

  /** Runs `fn` after `ms` unless the simulator stopped; errors end up in the resource's status. */
  later(ms: number, fn: () => void | Promise<void>): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopped) return;
      void Promise.resolve()
        .then(fn)
        .catch((err: unknown) => console.error('[openstack-sim] background step failed:', err));
    }, ms);
    this.timers.add(timer);
  }

  shutdown(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private takeFailure(kind: keyof NonNullable<OpenstackFaults['failNext']>): boolean {
    const left = this.faults.failNext?.[kind] ?? 0;
    if (left <= 0) return false;
    this.faults.failNext = { ...this.faults.failNext, [kind]: left - 1 };
    return true;
  }

  private addMessage(
    resourceType: UserMessage['resourceType'],
    resourceUuid: string,
    eventId: string,
    text: string,
  ): void {
    this.messages.push({
      id: randomUUID(),
      resourceType,
      resourceUuid,
      eventId,
      userMessage: text,
      requestId: `req-${randomUUID()}`,
      createdAt: now(),
    });
  }

  // ---- Keystone -----------------------------------------------------------------------------

  issueToken(): Token {
    const issuedAt = Date.now();
    const token: Token = {
      id: `gAAAAA${randomBytes(48).toString('base64url')}`,
      issuedAt,
      expiresAt: issuedAt + (this.faults.tokenLifetimeMs ?? 3600_000),
      auditId: randomBytes(16).toString('base64url').slice(0, 22),
    };
    this.tokens.set(token.id, token);
    return token;
  }

  validToken(id: string | undefined): Token | undefined {
    if (!id) return undefined;
    const token = this.tokens.get(id);
    if (!token || token.expiresAt <= Date.now()) return undefined;
    return token;
  }

  revokeToken(id: string): void {
    this.tokens.delete(id);
  }

  validTokenIds(): string[] {
    return [...this.tokens.keys()].filter((id) => this.validToken(id));
  }

  expireAllTokens(): void {
    for (const t of this.tokens.values()) t.expiresAt = 0;
  }

  // ---- Nova ---------------------------------------------------------------------------------

  stopServer(server: Server): void {
    server.taskState = 'powering-off';
    server.updatedAt = now();
    this.later(this.faults.stopMs ?? this.transitionMs * 3, () => {
      server.status = 'SHUTOFF';
      server.taskState = null;
      server.updatedAt = now();
    });
  }

  /** os-start: nova.compute.api.API.start sets task_state powering-on; the server is ACTIVE after. */
  startServer(server: Server): void {
    server.taskState = 'powering-on';
    server.updatedAt = now();
    this.later(this.faults.stopMs ?? this.transitionMs * 3, () => {
      server.status = 'ACTIVE';
      server.taskState = null;
      server.updatedAt = now();
    });
  }

  /** createImage of an image-booted server: a Glance image of its root disk. */
  snapshotServer(server: Server, name: string, metadata: Record<string, string>): Image {
    const t = now();
    const image: Image = {
      id: randomUUID(),
      name,
      status: 'queued',
      diskFormat: server.rootDiskFormat,
      containerFormat: 'bare',
      size: null,
      virtualSize: null,
      checksum: null,
      hashValue: null,
      path: null,
      properties: {
        ...metadata,
        image_type: 'snapshot',
        instance_uuid: server.id,
        base_image_ref: server.imageId,
        owner_project_name: 'sim',
      },
      createdAt: t,
      updatedAt: t,
    };
    this.images.set(image.id, image);
    server.taskState = 'image_snapshot';
    const fail = this.takeFailure('serverImage');
    this.later(this.transitionMs, () => {
      image.status = 'saving';
      image.updatedAt = now();
      server.taskState = 'image_uploading';
      this.later(this.transitionMs, async () => {
        server.taskState = null;
        if (fail) {
          // Nova deletes the half-made snapshot image when the upload fails.
          image.status = 'killed';
          image.updatedAt = now();
          return;
        }
        await this.fillImage(image, server.rootDiskPath!, server.rootDiskFormat);
      });
    });
    return image;
  }

  private async fillImage(image: Image, source: string, format: 'raw' | 'qcow2'): Promise<void> {
    if (!this.images.has(image.id)) return; // deleted meanwhile
    const path = join(this.dataDir, `image-${image.id}.${format}`);
    if (format === 'qcow2') await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', source, path]);
    else await this.copy(source, path);
    const virtualSize = (await stat(source)).size;
    const size = (await stat(path)).size;
    if (!this.images.has(image.id)) {
      await rm(path, { force: true });
      return;
    }
    image.path = path;
    image.size = size;
    image.virtualSize = virtualSize;
    const hashes = await this.hashOf(path);
    image.checksum = hashes.md5;
    image.hashValue = hashes.sha512;
    image.status = 'active';
    image.updatedAt = now();
  }

  // ---- Cinder -------------------------------------------------------------------------------

  createSnapshot(volume: Volume, name: string, description: string | null): Snapshot {
    const t = now();
    const snap: Snapshot = {
      id: randomUUID(),
      name,
      description,
      volumeId: volume.id,
      size: volume.size,
      status: 'creating',
      path: join(this.dataDir, `snapshot-${randomUUID()}.raw`),
      createdAt: t,
      updatedAt: t,
    };
    this.snapshots.set(snap.id, snap);
    const fail = this.takeFailure('snapshot');
    this.later(this.transitionMs, async () => {
      if (fail) {
        snap.status = 'error';
        this.addMessage(
          'VOLUME_SNAPSHOT',
          snap.id,
          'VOLUME_VOLUME_SNAPSHOT_001_003',
          'create snapshot: Snapshot failed to create.',
        );
      } else {
        await this.copy(volume.path, snap.path);
        snap.status = 'available';
      }
      snap.updatedAt = now();
    });
    return snap;
  }

  createVolumeFromSnapshot(snap: Snapshot, size: number, name: string, description: string | null): Volume {
    const t = now();
    const source = this.volumes.get(snap.volumeId);
    const volume: Volume = {
      id: randomUUID(),
      name,
      description,
      size,
      status: 'creating',
      bootable: source?.bootable ?? false,
      imageMetadata: { ...(source?.imageMetadata ?? {}) },
      attachments: [],
      snapshotId: snap.id,
      path: join(this.dataDir, `volume-${randomUUID()}.raw`),
      createdAt: t,
      updatedAt: t,
    };
    this.volumes.set(volume.id, volume);
    const fail = this.takeFailure('volume');
    this.later(this.transitionMs, async () => {
      if (fail) {
        volume.status = 'error';
        this.addMessage(
          'VOLUME',
          volume.id,
          'VOLUME_VOLUME_001_002',
          'create volume from backend storage:Driver failed to create the volume.',
        );
      } else {
        if (size !== snap.size) {
          // a larger volume: its own file, grown (never grow a clone: it would grow the snapshot)
          await copySparse(snap.path, volume.path);
          await truncate(volume.path, size * GIB);
        } else await this.copy(snap.path, volume.path);
        volume.status = 'available';
      }
      volume.updatedAt = now();
    });
    return volume;
  }

  /** os-volume_upload_image: volume `uploading` → back to its status; image queued → saving → active. */
  uploadVolumeToImage(volume: Volume, imageName: string, diskFormat: string, containerFormat: string): Image {
    const t = now();
    const image: Image = {
      id: randomUUID(),
      name: imageName,
      status: 'queued',
      diskFormat,
      containerFormat,
      size: null,
      virtualSize: null,
      checksum: null,
      hashValue: null,
      path: null,
      // Cinder copies the volume's image metadata onto the new image.
      properties: { ...volume.imageMetadata },
      createdAt: t,
      updatedAt: t,
    };
    delete image.properties.image_id;
    delete image.properties.image_name;
    this.images.set(image.id, image);
    const previous = volume.attachments.length ? 'in-use' : 'available';
    volume.status = 'uploading';
    volume.updatedAt = t;
    const fail = this.takeFailure('upload');
    this.later(this.transitionMs, () => {
      image.status = 'saving';
      image.updatedAt = now();
      this.later(this.transitionMs, async () => {
        if (fail) {
          image.status = 'killed';
          image.updatedAt = now();
          volume.status = 'error';
          this.addMessage(
            'VOLUME',
            volume.id,
            'VOLUME_VOLUME_ACTION_001_005',
            'upload volume to image: Failed to copy volume to image as image quota has been met.',
          );
        } else {
          await this.fillImage(image, volume.path, diskFormat === 'qcow2' ? 'qcow2' : 'raw');
          volume.status = previous;
        }
        volume.updatedAt = now();
      });
    });
    return image;
  }

  /** Snapshots (not yet gone) that were taken of `volume`. */
  snapshotsOf(volume: Volume): Snapshot[] {
    return [...this.snapshots.values()].filter((s) => s.volumeId === volume.id);
  }

  /** Volumes (including those still deleting) created from `snap`. */
  volumesFrom(snap: Snapshot): Volume[] {
    return [...this.volumes.values()].filter((v) => v.snapshotId === snap.id);
  }

  deleteVolume(volume: Volume): void {
    volume.status = 'deleting';
    volume.updatedAt = now();
    if (this.faults.stickyVolumeDelete) return;
    this.later(this.transitionMs, async () => {
      this.volumes.delete(volume.id);
      await rm(volume.path, { force: true });
    });
  }

  deleteSnapshot(snap: Snapshot): void {
    snap.status = 'deleting';
    snap.updatedAt = now();
    this.later(this.transitionMs, async () => {
      this.snapshots.delete(snap.id);
      await rm(snap.path, { force: true });
    });
  }

  private async copy(from: string, to: string): Promise<void> {
    await rm(to, { force: true });
    if (this.storage === 'clone')
      await link(from, to).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EXDEV') throw e;
        await copySparse(from, to); // another file system: no clone possible
      });
    else await copySparse(from, to);
    this.contentKeys.set(to, this.contentKeys.get(from) ?? from);
  }

  /** The data file of every volume, each with the file its content came from (for checksums). */
  volumeContents(): Array<{ volumeId: string; path: string; contentPath: string }> {
    return [...this.volumes.values()].map((v) => ({
      volumeId: v.id,
      path: v.path,
      contentPath: this.contentKeys.get(v.path) ?? v.path,
    }));
  }

  /**
   * Glance checksums of a content file computed elsewhere (a benchmark hashing on both cores before
   * it measures), so images made from it do not hash it again.
   */
  knowChecksums(contentPath: string, hashes: { md5: string; sha512: string }): void {
    this.hashes.set(contentPath, Promise.resolve(hashes));
  }

  private hashOf(path: string): Promise<{ md5: string; sha512: string }> {
    const key = this.contentKeys.get(path) ?? path;
    let h = this.hashes.get(key);
    if (!h) {
      h = hashFile(path);
      this.hashes.set(key, h);
    }
    return h;
  }

  // ---- Glance -------------------------------------------------------------------------------

  async deleteImage(image: Image): Promise<void> {
    this.images.delete(image.id);
    if (image.path) await rm(image.path, { force: true });
  }
}

async function hashFile(path: string): Promise<{ md5: string; sha512: string }> {
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    md5.update(chunk as Buffer);
    sha512.update(chunk as Buffer);
  }
  return { md5: md5.digest('hex'), sha512: sha512.digest('hex') };
}
