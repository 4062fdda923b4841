// Export of OpenStack servers against the simulator (real HTTPS with a private CA, real copies of
// disk data, qemu-img for qcow2): byte-identical disks, failures, token expiry, cleanup order.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import {
  OpenstackClient,
  type OpenstackClientOptions,
} from '../../functions/shared/sources/openstack/client.ts';
import type { OpenstackConnection } from '../../functions/shared/sources/openstack/connection.ts';
import { ServerExport } from '../../functions/shared/sources/openstack/export.ts';
import type { OpenstackExportSettings } from '../../functions/shared/sources/openstack/export-settings.ts';
import type { ExportOptions } from '../../functions/shared/sources/types.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import { writeDiskContent } from '../../local-cluster/simulators/disk-content.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import {
  IMAGE_BOOTED,
  OPENSTACK_TEST_INVENTORY as inventory,
  revokeOpenstackTokens,
} from '../support/openstack.ts';
import { openstackConnection } from '../../local-cluster/simulators/openstack/connection.ts';

const run = promisify(execFile);

/** One server's export with a client of its own, as the adapter runs it. */
async function exportOpenstackServer(
  connection: OpenstackConnection,
  nameOrId: string,
  opts: ExportOptions,
  settings: OpenstackExportSettings,
  options: OpenstackClientOptions,
) {
  return new ServerExport(await OpenstackClient.connect(connection, options), settings).run(nameOrId, opts);
}

/** Fast waits for MiB-scale disks: the simulator's state changes take ~30 ms. */
const SETTINGS = { pollInitialMs: 20, pollMaxMs: 200, uploadImageRetryCount: 30, uploadImageRetryDelay: 1 };

let sim: OpenstackSimulator;
let work: string;
let conn: OpenstackConnection;
const logs: Array<Record<string, unknown>> = [];
const log = (e: Record<string, unknown>) => void logs.push(e);

const connection = (overrides: Parameters<typeof openstackConnection>[1] = {}) =>
  openstackConnection(sim, overrides);

async function rejectsWith(p: Promise<unknown>, reason: string, text?: RegExp): Promise<SourceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SourceError, `expected a SourceError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (text) assert.match(err.message, text);
    return err;
  }
  assert.fail(`expected ${reason}`);
}

/** The source disk as the cloud serves it: the inventory content padded with zeros to whole GiB. */
async function assertSameAsSource(
  exported: string,
  spec: { sizeMiB: number; allocatedPercent: number; seed: number },
) {
  const expected = join(work, `expected-${spec.seed}.raw`);
  await writeDiskContent(expected, spec);
  const size = (await stat(exported)).size;
  assert.equal(size % (1024 * 1024 * 1024), 0, 'size is whole GiB, as Cinder reports it');
  await truncate(expected, size);
  await run('cmp', [expected, exported]); // throws on any differing byte
  await rm(expected);
}

function cloudLeftovers() {
  const m = sim.model;
  return {
    snapshots: [...m.snapshots.values()].map((s) => `${s.id}:${s.status}`),
    volumes: [...m.volumes.values()]
      .filter((v) => v.name.startsWith('vm-import-'))
      .map((v) => `${v.id}:${v.status}`),
    images: [...m.images.values()]
      .filter((i) => i.name.startsWith('vm-import-'))
      .map((i) => `${i.id}:${i.status}`),
  };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'openstack-client-'));
  sim = await startOpenstackSimulator({ inventory, workDir: join(work, 'sim'), serverImageFormat: 'qcow2' });
  conn = connection();
});

after(async () => {
  await sim?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('export', () => {
  it('exports a 2-volume server byte-identical to the source, root volume first, and removes all temporaries', async () => {
    const scratch = join(work, 'scratch-two');
    const before = sim.requests().length;
    const phases = new Set<string>();
    const disks = await exportOpenstackServer(
      conn,
      'two-disks',
      { scratchDir: scratch, concurrency: 2, onProgress: (p) => phases.add(p.phase) },
      SETTINGS,
      { log },
    );
    const calls = sim.requests().slice(before);
    assert.equal(disks.length, 2);
    await assertSameAsSource(disks[0]!.path, inventory.openstack!.servers[0]!.volumes[1]!); // bootable first
    await assertSameAsSource(disks[1]!.path, inventory.openstack!.servers[0]!.volumes[0]!);
    assert.ok(
      disks[0]!.allocatedBytes > 0 && disks[0]!.allocatedBytes < disks[0]!.sizeBytes,
      'sparse output',
    );
    assert.ok(phases.has('done') && phases.has('exporting'));
    assert.deepEqual(cloudLeftovers(), { snapshots: [], volumes: [], images: [] });

    const summary = new Map<string, number>();
    for (const c of calls) {
      const key = `${c.method} ${c.path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '{id}')}`;
      summary.set(key, (summary.get(key) ?? 0) + 1);
    }
    console.log(`# 2-volume import: ${calls.length} requests`);
    for (const [k, n] of [...summary].sort()) console.log(`#   ${n.toString().padStart(3)}  ${k}`);
    // Each volume: snapshot, volume, upload, image; deletions in dependency order.
    const order = calls.map((c) => `${c.method} ${c.path.split('/').slice(-2).join('/')}`);
    for (const id of [
      ...new Set(
        calls
          .filter((c) => c.method === 'DELETE' && c.path.includes('/snapshots/'))
          .map((c) => c.path.split('/').pop()!),
      ),
    ]) {
      const snapDelete = calls.findIndex((c) => c.method === 'DELETE' && c.path.endsWith(`/snapshots/${id}`));
      assert.ok(snapDelete > 0, order.join('\n'));
    }
    const volumeGoneBeforeSnapshotDelete = calls.every((c, i) => {
      if (!(c.method === 'DELETE' && c.path.includes('/snapshots/'))) return true;
      return calls
        .slice(0, i)
        .some((p) => p.method === 'GET' && p.path.includes('/volumes/') && p.status === 404);
    });
    assert.ok(volumeGoneBeforeSnapshotDelete, 'the temporary volume is gone before its snapshot is deleted');
    assert.ok(
      !calls.some((c) => c.path.includes('/snapshots/') && c.method === 'DELETE' && c.status === 400),
      'no snapshot delete refused',
    );
  });

  it('exports the root disk of an image-booted server via createImage (qcow2 → raw)', async () => {
    const disks = await exportOpenstackServer(
      conn,
      IMAGE_BOOTED,
      { scratchDir: join(work, 'scratch-img') },
      SETTINGS,
      { log },
    );
    assert.equal(disks.length, 1);
    await assertSameAsSource(disks[0]!.path, inventory.openstack!.servers[1]!.rootDisk!);
    assert.deepEqual(cloudLeftovers(), { snapshots: [], volumes: [], images: [] });
  });

  it('fails clearly when a volume goes to error, and removes the temporaries', async () => {
    sim.setFaults({ failNext: { volume: 1 } });
    const scratch = join(work, 'scratch-err');
    const err = await rejectsWith(
      exportOpenstackServer(conn, 'two-disks', { scratchDir: scratch, concurrency: 1 }, SETTINGS, { log }),
      'OpenstackResourceFailed',
      /status error: create volume from backend storage:Driver failed to create the volume/,
    );
    assert.ok(err.message.includes('volume'));
    assert.deepEqual(cloudLeftovers(), { snapshots: [], volumes: [], images: [] });
  });

  it('fails clearly when the uploaded image is killed', async () => {
    sim.setFaults({ failNext: { upload: 1 } });
    await rejectsWith(
      exportOpenstackServer(
        conn,
        'two-disks',
        { scratchDir: join(work, 'scratch-kill'), concurrency: 1 },
        SETTINGS,
        { log },
      ),
      'OpenstackResourceFailed',
      /killed: upload volume to image/,
    );
    // The temporary volume went to error during the upload; it is still removed.
    assert.deepEqual(cloudLeftovers(), { snapshots: [], volumes: [], images: [] });
  });

  it('re-authenticates when the token expires during the waits, and survives 503s', async () => {
    sim.setFaults({
      tokenLifetimeMs: 1000, // expires during the export (seconds), yet outlives auth → retry under load
      transitionMs: 100,
      httpErrors: [{ method: 'GET', path: '/snapshots/', status: 503, times: 2 }],
    });
    try {
      const client = await OpenstackClient.connect(conn, { log, retryBaseMs: 10 });
      const disks = await new ServerExport(client, SETTINGS).run('testvm', {
        scratchDir: join(work, 'scratch-token'),
      });
      assert.equal(disks.length, 1);
      assert.ok(
        client.session.reauthentications >= 1,
        `re-authenticated ${client.session.reauthentications} times`,
      );
      await assertSameAsSource(disks[0]!.path, inventory.openstack!.servers[4]!.volumes[0]!);
    } finally {
      sim.setFaults({ tokenLifetimeMs: 3600_000, transitionMs: 30, httpErrors: [] });
    }
    assert.deepEqual(cloudLeftovers(), { snapshots: [], volumes: [], images: [] });
  });

  it('a token revoked mid-download (DELETE /v3/auth/tokens): the next call is 401, the session authenticates again, the disks are byte-identical', async () => {
    const client = await OpenstackClient.connect(conn, { log, retryBaseMs: 10 });
    let revoked: Promise<number> | undefined;
    const disks = await new ServerExport(client, SETTINGS).run('two-disks', {
      scratchDir: join(work, 'scratch-revoked'),
      concurrency: 1,
      onProgress: (p) => {
        // Once, while the first disk's bytes arrive.
        if (!revoked && p.phase === 'exporting' && p.bytesDone > 0)
          revoked = revokeOpenstackTokens({
            url: sim.url,
            ...(sim.caCertPem ? { ca_cert: sim.caCertPem } : {}),
          });
      },
    });
    assert.ok(((await revoked) ?? 0) >= 1, 'a token was revoked mid-download');
    assert.ok(
      client.session.reauthentications >= 1,
      `re-authenticated ${client.session.reauthentications} times`,
    );
    await assertSameAsSource(disks[0]!.path, inventory.openstack!.servers[0]!.volumes[1]!);
    await assertSameAsSource(disks[1]!.path, inventory.openstack!.servers[0]!.volumes[0]!);
    assert.deepEqual(cloudLeftovers(), { snapshots: [], volumes: [], images: [] });
  });

  it('logs what it could not remove when a temporary volume never finishes deleting', async () => {
    sim.setFaults({ stickyVolumeDelete: true });
    logs.length = 0;
    try {
      const disks = await exportOpenstackServer(
        conn,
        'testvm',
        { scratchDir: join(work, 'scratch-sticky') },
        { ...SETTINGS, cleanupTimeoutMs: 300 },
        { log },
      );
      assert.equal(disks.length, 1);
    } finally {
      sim.setFaults({ stickyVolumeDelete: false });
    }
    const errors = logs.filter((l) => l.level === 'error').map((l) => String(l.msg));
    assert.ok(
      errors.some((m) => /could not remove volume/.test(m)),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((m) => /could not remove snapshot/.test(m)),
      'its snapshot cannot go before it',
    );
    // Clean the simulator by hand for the next tests.
    for (const v of sim.model.volumes.values()) if (v.status === 'deleting') sim.model.volumes.delete(v.id);
    for (const s of sim.model.snapshots.values()) sim.model.snapshots.delete(s.id);
  });

  // Last: it leaves wrong checksums in the model for testvm's content.
  it('refuses a download that does not match the image checksum, leaving no disk and no temporaries', async () => {
    const server = [...sim.model.servers.values()].find((sv) => sv.name === 'testvm')!;
    const attached = new Set(
      [...sim.model.volumes.values()]
        .filter((v) => v.attachments.some((a) => a.serverId === server.id))
        .map((v) => v.path),
    );
    for (const c of sim.model.volumeContents())
      if (attached.has(c.path))
        sim.model.knowChecksums(c.contentPath, { md5: '0'.repeat(32), sha512: '0'.repeat(128) });
    const scratch = join(work, 'scratch-checksum');
    await rejectsWith(
      exportOpenstackServer(conn, 'testvm', { scratchDir: scratch }, SETTINGS, { log }),
      'ChecksumMismatch',
      /does not match its checksum/,
    );
    const left = await readdir(scratch).catch(() => []);
    assert.deepEqual(left, [], 'no partial disk is left in scratch');
    assert.deepEqual(cloudLeftovers(), { snapshots: [], volumes: [], images: [] });
  });
});
