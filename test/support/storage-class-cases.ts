// Imports to each StorageClass of the local cluster and the image and cleanup paths that differ
// between Harvester versions (issue 21), as one end-to-end case run on a cluster that plays a
// given Harvester version. Four imports of two small OVAs at once:
//  - sc-ceph: to the third-party class `rook-ceph-block`. Harvester >= 1.5: backend cdi, CDI's
//    DataVolume named after the image in that class, the VM's volumes clones of it in that class.
//    Older: Harvester refuses the image (the provisioner check), the import fails ImageRefused.
//  - sc-lh2: to the Longhorn v2 class. >= 1.5: backend cdi as above. Older: a backing image.
//  - sc-fail: its disk server answers 404 for the disk (SCRATCH_DIR patched at once, strategy
//    Recreate so its first pod never serves): every image fails up to spec.retry, is resubmitted
//    up to IMAGE_RESUBMIT_LIMIT, then the import fails with the image's message.
//  - sc-cleanup: its NIC is mapped to a VLAN network that is deleted once the import is checked
//    (at diskImageSubmitted), so its VM is created but never runs (KubeVirt waits for the network);
//    deleting the import then removes VM, volumes and images in stages (Harvester refuses an image
//    delete while a volume of it exists) and the import goes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LocalCluster } from '../../local-cluster/cluster.ts';
import { importStatus } from '../../local-cluster/import-status.ts';
import { harvesterBehaviour } from '../../local-cluster/runtime/harvester/versions.ts';
import { importObjectNames } from '../../functions/shared/import-objects.ts';
import { sameDisk, waitForImports } from './e2e.ts';

const disk = (seed: number) => ({ sizeMiB: 8, controller: 'sata', allocatedPercent: 50, seed });

/** The OVAs the case imports: add them to the cluster's inventory (`ova:`). */
export const STORAGE_CLASS_CASE_OVAS = [
  { name: 'sc-disk.ova', vm: { cpus: 1, memoryMiB: 128, disks: [disk(81)], nics: [] } },
  {
    name: 'sc-nic.ova',
    vm: {
      cpus: 1,
      memoryMiB: 128,
      disks: [disk(82)],
      nics: [{ network: 'VM Network', type: 'e1000', mac: '00:50:56:0c:0d:01' }],
    },
  },
];

const IMPORTS: Record<string, { ova: string; spec: Record<string, unknown> }> = {
  'sc-ceph': { ova: 'sc-disk', spec: { storageClass: 'rook-ceph-block' } },
  'sc-lh2': { ova: 'sc-disk', spec: { storageClass: 'longhorn-v2' } },
  'sc-fail': { ova: 'sc-disk', spec: {} },
  'sc-cleanup': {
    ova: 'sc-nic',
    spec: { networkMapping: [{ sourceNetwork: 'VM Network', destinationNetwork: 'default/sc-net' }] },
  },
};

function manifests(cluster: LocalCluster): string {
  const ova = cluster.endpoints.ova!;
  const docs: object[] = [
    {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: {
        name: 'sc-net',
        namespace: 'default',
        labels: { 'network.harvesterhci.io/type': 'L2VlanNetwork', 'network.harvesterhci.io/vlan-id': '30' },
      },
      spec: {
        config: JSON.stringify({
          cniVersion: '0.3.1',
          name: 'sc-net',
          type: 'bridge',
          bridge: 'mgmt-br',
          vlan: 30,
          ipam: {},
        }),
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'sc-ova-ca', namespace: 'default' },
      stringData: { 'ca.crt': ova.caCert },
    },
  ];
  for (const name of ['sc-disk', 'sc-nic'])
    docs.push({
      apiVersion: 'migration.harvesterhci.io/v1beta1',
      kind: 'OvaSource',
      metadata: { name, namespace: 'default' },
      spec: { url: `${ova.baseUrl}/${name}.ova`, credentials: { name: 'sc-ova-ca', namespace: 'default' } },
    });
  for (const [name, { ova: source, spec }] of Object.entries(IMPORTS))
    docs.push({
      apiVersion: 'migration.harvesterhci.io/v1beta1',
      kind: 'VirtualMachineImport',
      metadata: { name, namespace: 'default' },
      spec: {
        // Each import gets its own VM name: several import the same OVA VM.
        virtualMachineName: source,
        targetName: `${name}-vm`,
        sourceCluster: {
          name: source,
          namespace: 'default',
          kind: 'OvaSource',
          apiVersion: 'migration.harvesterhci.io/v1beta1',
        },
        ...spec,
      },
    });
  return docs.map((d) => stringify(d)).join('---\n');
}

async function getJson(cluster: LocalCluster, args: string[]): Promise<any> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json']));
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** sc-fail's disk server serves nothing: patched before its first pod can be ready. */
async function breakDiskServer(cluster: LocalCluster): Promise<void> {
  const name = importObjectNames('sc-fail').diskServer;
  await waitFor(
    `Deployment ${name}`,
    async () => ((await getJson(cluster, ['get', 'deployment', name])).metadata ? true : undefined),
    600_000,
  );
  const dep = await getJson(cluster, ['get', 'deployment', name]);
  const env = dep.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) =>
    e.name === 'SCRATCH_DIR' ? { ...e, value: '/scratch/gone' } : e,
  );
  await cluster.kubectl([
    'patch',
    'deployment',
    name,
    '--type=strategic',
    '-p',
    JSON.stringify({
      spec: {
        strategy: { type: 'Recreate', rollingUpdate: null },
        template: { spec: { containers: [{ name: 'disk-server', env }] } },
      },
    }),
  ]);
}

export async function storageClassCases(cluster: LocalCluster, stateDir: string): Promise<void> {
  const harvester = harvesterBehaviour(cluster.harvesterVersion);
  await cluster.kubectl(['apply', '-f', '-'], manifests(cluster));
  const broken = breakDiskServer(cluster);
  const names = Object.keys(IMPORTS).filter((n) => n !== 'sc-cleanup');
  // sc-cleanup: checked, then its network goes, so its VM exists but cannot run: unfinished.
  const vmCreated = waitFor(
    'sc-cleanup images',
    async () =>
      ['diskImageSubmitted', 'diskImagesReady'].includes(
        (await importStatus(cluster, 'sc-cleanup')).importStatus ?? '',
      )
        ? true
        : undefined,
    900_000,
  )
    .then(() => cluster.kubectl(['delete', 'network-attachment-definitions.k8s.cni.cncf.io', 'sc-net']))
    .then(() =>
      waitFor(
        'the VM of sc-cleanup',
        async () =>
          (await getJson(cluster, ['get', 'virtualmachine.kubevirt.io', 'sc-cleanup-vm'])).metadata
            ? true
            : undefined,
        900_000,
      ),
    );
  await broken;
  const statuses = await waitForImports(cluster, names, 1_200_000);
  const last = (n: string) => JSON.stringify(statuses[n]!.importConditions?.at(-1));

  // The third-party class and the Longhorn v2 class.
  for (const name of ['sc-ceph', 'sc-lh2']) {
    const refused = name === 'sc-ceph' && !harvester.imageBackend;
    if (refused) {
      assert.equal(statuses[name]!.importStatus, 'VMMigrationFailed', `${name}: ${last(name)}`);
      const cond = statuses[name]!.importConditions!.find((c) => c.reason === 'ImageRefused');
      assert.ok(cond, `${name}: ImageRefused, ${last(name)}`);
      assert.match(cond.message ?? '', /provisioner of storageClass must be driver\.longhorn\.io/);
      continue;
    }
    assert.equal(statuses[name]!.importStatus, 'virtualMachineRunning', `${name}: ${last(name)}`);
    const pvcs = await getJson(cluster, [
      'get',
      'pvc',
      '-l',
      `migration.harvesterhci.io/import-name=${name}`,
    ]);
    assert.equal(pvcs.items.length, 1, `${name}: one volume`);
    const vmClaim = pvcs.items[0];
    assert.equal(vmClaim.status.phase, 'Bound');
    // The image the VM's volume was made from. Under duplicated deliveries a disk can get two
    // images (Harvester's display-name check reads a cache, as ours does); either holds the disk.
    const ours = await getJson(cluster, [
      'get',
      'virtualmachineimage',
      '-l',
      `migration.harvesterhci.io/import-name=${name}`,
    ]);
    const imageName: string = harvester.imageBackend
      ? vmClaim.spec.dataSource?.name
      : String(vmClaim.metadata.annotations?.['harvesterhci.io/imageId']).split('/')[1]!;
    assert.ok(
      ours.items.some((i: any) => i.metadata.name === imageName),
      `${name}: made from an image of the import (${imageName})`,
    );
    const image = await getJson(cluster, ['get', 'virtualmachineimage', imageName]);
    const sourceDisk = join(stateDir, 'sources', 'ova', 'sc-disk', 'disk-0.raw');
    if (harvester.imageBackend) {
      const cls = name === 'sc-ceph' ? 'rook-ceph-block' : 'longhorn-v2';
      assert.equal(image.spec.backend, 'cdi', `${name}: backend`);
      assert.equal(image.spec.targetStorageClassName, cls);
      const dv = await getJson(cluster, ['get', 'datavolume', imageName]);
      assert.equal(dv.status.phase, 'Succeeded');
      assert.equal(dv.spec.storage.storageClassName, cls);
      assert.equal(vmClaim.spec.storageClassName, cls, `${name}: the VM's volume is in the class asked for`);
      assert.equal(vmClaim.spec.dataSource.kind, 'PersistentVolumeClaim');
      assert.ok(
        await sameDisk(join(stateDir, 'volumes', 'default', imageName, 'disk.img'), sourceDisk),
        `${name}: CDI's volume holds the source disk`,
      );
    } else {
      // A backing image: the per-image Longhorn class, the Longhorn v2 class's parameters in it.
      assert.equal(vmClaim.spec.storageClassName, image.status.storageClassName);
      assert.ok(
        await sameDisk(join(stateDir, 'harvester', 'images', 'default', `${imageName}.raw`), sourceDisk),
        `${name}: the backing image holds the source disk`,
      );
    }
    assert.ok(
      await sameDisk(join(stateDir, 'volumes', 'default', vmClaim.metadata.name, 'disk.img'), sourceDisk),
      `${name}: the VM's volume holds the source disk`,
    );
  }

  // A failed image, resubmitted up to the limit: the import fails with the image's message.
  assert.equal(statuses['sc-fail']!.importStatus, 'VMMigrationFailed', last('sc-fail'));
  const failed = statuses['sc-fail']!.importConditions!.find((c) => c.reason === 'ImageFailed');
  assert.ok(failed, `sc-fail: ImageFailed, ${last('sc-fail')}`);
  assert.match(failed.message ?? '', /HTTP 404/, "the image's own message");
  assert.match(failed.message ?? '', /after 4 attempts/, 'IMAGE_RESUBMIT_LIMIT 3: four submissions');
  const attempts = await getJson(cluster, [
    'get',
    'virtualmachineimage',
    '-l',
    'migration.harvesterhci.io/import-name=sc-fail',
  ]);
  assert.ok(attempts.items.length >= 1);

  // Cleanup of an unfinished import whose VM exists.
  await vmCreated;
  const cleanupStatus = await importStatus(cluster, 'sc-cleanup');
  assert.notEqual(cleanupStatus.importStatus, 'virtualMachineRunning');
  const images = cleanupStatus.diskImportStatus!.map((d) => d.VirtualMachineImage!);
  await cluster.kubectl(['delete', 'virtualmachineimport.migration', 'sc-cleanup', '--wait=false']);
  await waitFor(
    'sc-cleanup to be gone with its VM, volumes and images',
    async () => {
      const left = await getJson(cluster, [
        'get',
        'virtualmachineimports.migration,virtualmachines.kubevirt.io,pvc,virtualmachineimages',
      ]);
      const ours = left.items.filter(
        (o: any) =>
          o.metadata.name === 'sc-cleanup' ||
          o.metadata.name === 'sc-cleanup-vm' ||
          o.metadata.labels?.['migration.harvesterhci.io/import-name'] === 'sc-cleanup' ||
          images.includes(o.metadata.name),
      );
      return ours.length === 0 ? true : undefined;
    },
    600_000,
  );
}
