// The local cluster's storage (local-cluster/runtime/storage/) with kubectl: Harvester's classes
// are there; a Filesystem volume holds exactly its requested size (a write beyond fails with
// ENOSPC); a Block volume reaches a pod as a device at its devicePath; each class refuses what its
// driver refuses (ProvisioningFailed, as external-provisioner reports it); a clone copies its
// source; WaitForFirstConsumer waits for a pod; Longhorn's node object reports the space the volumes
// take; stopping the cluster leaves no mount or loop device, and a killed run's are released by
// the next start.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { sweepStale } from '../../local-cluster/runtime/storage/volume-backing.ts';

const run = promisify(execFile);
const NS = 'runtime-storage';
const MiB = 1024 * 1024;

let cluster: LocalCluster;
let stateDir: string;

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'runtime-storage-'));
  cluster = await startLocalCluster({ stateDir, sources: false, applyConfig: false });
  // Outside "default", which PodSecurity holds to `restricted`: these pods test the node agent.
  await cluster.kubectl(['create', 'namespace', NS]);
});

after(async () => {
  await cluster?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function getJson(args: string[]): Promise<Record<string, any>> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json']));
}

const claim = (name: string, size: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, ...extra },
  });

/** A pod that runs `script` with node and the claim at /data (Filesystem) or /dev/xvda (Block). */
const pod = (name: string, claimName: string, script: string, block = false) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      restartPolicy: 'Never',
      securityContext: { fsGroup: 65532 },
      containers: [
        {
          name: 'main',
          image: 'ghcr.io/vm-import/vm-import:0.1.0',
          command: ['node', '-e', script],
          ...(block
            ? { volumeDevices: [{ name: 'data', devicePath: '/dev/xvda' }] }
            : { volumeMounts: [{ name: 'data', mountPath: '/data' }] }),
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }],
    },
  });

async function podEnded(name: string): Promise<{ exitCode: number; log: string }> {
  const p = await waitFor(`pod ${name} to end`, async () => {
    const p = await getJson(['get', 'pod', name, '-n', NS]);
    return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
  });
  const log = await cluster.kubectl(['logs', name, '-n', NS]);
  return { exitCode: p.status.containerStatuses[0].state.terminated.exitCode, log };
}

async function bound(name: string): Promise<Record<string, any>> {
  return waitFor(`claim ${name} to bind`, async () => {
    const c = await getJson(['get', 'pvc', name, '-n', NS]);
    return c.status?.phase === 'Bound' ? c : undefined;
  });
}

async function provisioningFailed(name: string): Promise<string> {
  return waitFor(`ProvisioningFailed on ${name}`, async () => {
    const events = await getJson([
      'get',
      'events',
      '-n',
      NS,
      '--field-selector',
      `involvedObject.name=${name},reason=ProvisioningFailed`,
    ]);
    return events.items[0]?.message as string | undefined;
  });
}

test("Harvester's classes: harvester-longhorn the Immediate default, a Longhorn v2 class, a Ceph RBD class", async () => {
  const classes = await getJson(['get', 'storageclass']);
  const byName = Object.fromEntries(classes.items.map((c: any) => [c.metadata.name, c]));
  const hl = byName['harvester-longhorn'];
  assert.equal(hl.provisioner, 'driver.longhorn.io');
  assert.equal(hl.volumeBindingMode, 'Immediate');
  assert.equal(hl.metadata.annotations['storageclass.kubernetes.io/is-default-class'], 'true');
  assert.equal(hl.parameters.dataEngine, undefined);
  assert.equal(byName['longhorn-v2'].parameters.dataEngine, 'v2');
  assert.equal(byName['rook-ceph-block'].provisioner, 'rook-ceph.rbd.csi.ceph.com');
});

test('a Filesystem volume holds its requested size: writing more fails with ENOSPC', async () => {
  await cluster.kubectl(['apply', '-f', '-'], claim('small', '16Mi'));
  const pvc = await bound('small');
  assert.equal(pvc.spec.storageClassName, 'harvester-longhorn');
  const pv = await getJson(['get', 'pv', pvc.spec.volumeName]);
  assert.equal(pv.spec.volumeMode, 'Filesystem');
  assert.equal(pv.spec.csi.driver, 'driver.longhorn.io');
  await cluster.kubectl(
    ['apply', '-f', '-'],
    pod(
      'filler',
      'small',
      `const fs = require('node:fs');
       const fd = fs.openSync('/data/fill', 'w');
       const chunk = Buffer.alloc(1 << 20, 1);
       let written = 0;
       try { for (let i = 0; i < 32; i++) written += fs.writeSync(fd, chunk); fs.fsyncSync(fd); }
       catch (e) { console.log('stopped at', written, e.code); process.exit(e.code === 'ENOSPC' ? 3 : 1); }
       console.log('wrote', written);`,
    ),
  );
  const { exitCode, log } = await podEnded('filler');
  assert.equal(exitCode, 3, log);
  const written = Number(/stopped at (\d+) ENOSPC/.exec(log)?.[1]);
  assert.ok(written >= 8 * MiB && written <= 16 * MiB, `wrote ${written} bytes before ENOSPC`);
  // The data is in the volume's file system (what the pod wrote), not a directory of the host's.
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(mounts.includes(join(stateDir, 'volumes', NS, 'small')), 'the volume is a mount');
  // Longhorn's view of the node's data disk: the volume's replica is scheduled there, and what
  // the pod wrote is gone from the disk's free space.
  const node = await waitFor('the Longhorn node to count the volume', async () => {
    const n = await getJson(['get', '-n', 'longhorn-system', 'nodes.longhorn.io', 'vm-import-local']);
    const disk = Object.values(n.status?.diskStatus ?? {})[0] as any;
    return disk?.scheduledReplica?.[`${pvc.spec.volumeName}-r-0`] === 16 * MiB ? n : undefined;
  });
  const disk = Object.values(node.status.diskStatus)[0] as any;
  assert.ok(disk.storageScheduled >= 16 * MiB);
  assert.ok(disk.storageMaximum - disk.storageAvailable >= written, 'the written bytes are used on the disk');
  assert.equal(disk.conditions.find((c: any) => c.type === 'Schedulable').status, 'True');
  const spec = Object.values(node.spec.disks)[0] as any;
  assert.equal(
    spec.storageReserved,
    Math.floor(disk.storageMaximum * 0.3),
    "Longhorn's 30 % for a default disk",
  );
  await cluster.kubectl(['delete', 'pod', 'filler', '-n', NS]);
});

test('a Block volume reaches a pod as a device at its devicePath, exactly its size', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    claim('disk', '8Mi', { volumeMode: 'Block', storageClassName: 'longhorn-v2' }),
  );
  await bound('disk');
  await cluster.kubectl(
    ['apply', '-f', '-'],
    pod(
      'disk-writer',
      'disk',
      `const fs = require('node:fs');
       const st = fs.statSync('/dev/xvda');
       const fd = fs.openSync('/dev/xvda', 'r+');
       fs.writeSync(fd, Buffer.from('hello block'), 0, 11, 0);
       let end = 'none';
       try { fs.writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 8 * 1024 * 1024); } catch (e) { end = e.code; }
       fs.fsyncSync(fd);
       console.log('block', st.isBlockDevice(), 'beyond', end);`,
      true,
    ),
  );
  const { exitCode, log } = await podEnded('disk-writer');
  assert.equal(exitCode, 0, log);
  assert.match(log, /block true beyond ENOSPC/);
  const file = join(stateDir, 'volumes', NS, 'disk', 'disk.img');
  assert.equal((await stat(file)).size, 8 * MiB);
  const head = Buffer.alloc(11);
  const fh = await open(file, 'r');
  await fh.read(head, 0, 11, 0);
  await fh.close();
  assert.equal(head.toString(), 'hello block');

  // A Filesystem claim listed under volumeDevices is refused as the kubelet refuses it.
  await cluster.kubectl(['apply', '-f', '-'], claim('fs-as-device', '8Mi'));
  await bound('fs-as-device');
  await cluster.kubectl(['apply', '-f', '-'], pod('wrong-mode', 'fs-as-device', 'console.log(1)', true));
  const reason = await waitFor('wrong-mode refused', async () => {
    const p = await getJson(['get', 'pod', 'wrong-mode', '-n', NS]);
    return (p.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled' && c.status === 'False')
      ?.message;
  });
  assert.match(reason, /volume data has volumeMode Filesystem, but is specified in volumeDevices/);
  await cluster.kubectl(['delete', 'pod', 'wrong-mode', 'disk-writer', '-n', NS]);
});

test("clones: the source's bytes in the same class; Longhorn refuses another size, external-provisioner another class", async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    claim('copy', '8Mi', {
      volumeMode: 'Block',
      storageClassName: 'longhorn-v2',
      dataSource: { kind: 'PersistentVolumeClaim', name: 'disk' },
    }),
  );
  await bound('copy');
  const copy = await readFile(join(stateDir, 'volumes', NS, 'copy', 'disk.img'));
  assert.equal(copy.subarray(0, 11).toString(), 'hello block');

  await cluster.kubectl(
    ['apply', '-f', '-'],
    claim('bigger-copy', '16Mi', {
      volumeMode: 'Block',
      storageClassName: 'longhorn-v2',
      dataSource: { kind: 'PersistentVolumeClaim', name: 'disk' },
    }),
  );
  assert.match(
    await provisioningFailed('bigger-copy'),
    /^failed to provision volume with StorageClass "longhorn-v2": rpc error: code = OutOfRange desc = failed to clone volume: the requested size \(16777216 bytes\) is different than the source volume size \(8388608 bytes\)$/,
  );
  await cluster.kubectl(
    ['apply', '-f', '-'],
    claim('other-class-copy', '8Mi', {
      volumeMode: 'Block',
      storageClassName: 'harvester-longhorn',
      dataSource: { kind: 'PersistentVolumeClaim', name: 'disk' },
    }),
  );
  assert.match(
    await provisioningFailed('other-class-copy'),
    /must be in the same storage class for cloning\.  Source is in longhorn-v2, but new PVC is in harvester-longhorn/,
  );
  assert.equal((await getJson(['get', 'pvc', 'bigger-copy', '-n', NS])).status.phase, 'Pending');
});

test('Ceph RBD refuses a ReadWriteMany file system; a WaitForFirstConsumer class waits for its pod', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    claim('shared', '8Mi', { storageClassName: 'rook-ceph-block', accessModes: ['ReadWriteMany'] }),
  );
  assert.match(
    await provisioningFailed('shared'),
    /rook-ceph-block": rpc error: code = InvalidArgument desc = multi node access modes are only supported on rbd `block` type volumes/,
  );
  await cluster.kubectl(
    ['apply', '-f', '-'],
    claim('shared-block', '8Mi', {
      storageClassName: 'rook-ceph-block',
      accessModes: ['ReadWriteMany'],
      volumeMode: 'Block',
    }),
  );
  await bound('shared-block');

  await cluster.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'longhorn-wffc' },
      provisioner: 'driver.longhorn.io',
      volumeBindingMode: 'WaitForFirstConsumer',
    }),
  );
  await cluster.kubectl(['apply', '-f', '-'], claim('late', '8Mi', { storageClassName: 'longhorn-wffc' }));
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await getJson(['get', 'pvc', 'late', '-n', NS])).status.phase, 'Pending', 'no consumer yet');
  await cluster.kubectl(
    ['apply', '-f', '-'],
    pod('consumer', 'late', "require('node:fs').writeFileSync('/data/x', 'y')"),
  );
  await bound('late');
  assert.equal((await podEnded('consumer')).exitCode, 0);
});

test('deleting a claim unmounts and removes its volume and gives its space back to the host; stopping the cluster leaves no mount or loop device', async () => {
  const dataDisk = join(stateDir, 'data-disk.ext4');
  const hostBytes = async () => (await stat(dataDisk)).blocks * 512;
  const before = await hostBytes();
  await cluster.kubectl(['delete', 'pvc', 'small', '-n', NS, '--wait=false']);
  await waitFor('volume removal', async () =>
    (await readFile('/proc/self/mountinfo', 'utf8')).includes(join(stateDir, 'volumes', NS, 'small'))
      ? undefined
      : true,
  );
  // The filler pod wrote ~13 MiB into it: discard punches that out of the data disk's image.
  await waitFor('the host space back', async () =>
    before - (await hostBytes()) >= 8 * MiB ? true : undefined,
  );
  await cluster.stop();
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes(stateDir), 'no mount under the state directory');
  const { stdout } = await run('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']);
  assert.ok(!stdout.includes(stateDir), `no loop device of the state directory:\n${stdout}`);
});

test("a killed run's mounts and loop devices are released by the next start's sweep", async () => {
  const dead = await mkdtemp(join(tmpdir(), 'runtime-storage-killed-'));
  try {
    // What a killed cluster leaves: a volume's loop mount, a block volume's loop device, and the
    // PID file of a process that is gone.
    await mkdir(join(dead, 'volume-backing', 'ns'), { recursive: true });
    await mkdir(join(dead, 'volumes', 'ns', 'fs'), { recursive: true });

    const image = join(dead, 'volume-backing', 'ns', 'fs.ext4');
    await writeFile(image, '');
    await truncate(image, 8 * MiB);
    await run('mkfs.ext4', ['-q', '-F', '-m0', image]);
    await run('mount', ['-o', 'loop', image, join(dead, 'volumes', 'ns', 'fs')]);
    const blk = join(dead, 'volume-backing', 'ns', 'blk.img');
    await writeFile(blk, '');
    await truncate(blk, 8 * MiB);
    await run('losetup', ['--find', blk]);
    const gone = await run('sh', ['-c', 'echo $$']).then((r) => Number(r.stdout.trim()));
    await writeFile(join(dead, 'storage.pid'), String(gone));

    await sweepStale(() => undefined);
    assert.ok(!(await readFile('/proc/self/mountinfo', 'utf8')).includes(dead), 'unmounted');
    const { stdout } = await run('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']);
    assert.ok(!stdout.includes(dead), `detached:\n${stdout}`);
  } finally {
    await run('umount', ['--lazy', join(dead, 'volumes', 'ns', 'fs')]).catch(() => undefined);
    await rm(dead, { recursive: true, force: true });
  }
});
