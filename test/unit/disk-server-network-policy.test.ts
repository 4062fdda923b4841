// The NetworkPolicy created with each disk server: it selects exactly the disk server's pods and
// admits only Longhorn's backing-image data-source pods, CDI's importer pods and Harvester's own
// pods (labels as their controllers and chart set them; see functions/shared/disk-server/workload.ts). Enforcement needs a CNI that implements
// NetworkPolicy; the local cluster has none yet, so this checks the object, not the traffic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diskServerManifests, DISK_SERVER_PORT } from '../../functions/shared/disk-server/workload.ts';
import type { VirtualMachineImport } from '../../functions/shared/api/index.ts';

test("the disk server NetworkPolicy admits only the two downloaders and Harvester's controller (it sizes a cdi image from the URL), on the server port", () => {
  const vmImport = {
    apiVersion: 'migration.harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImport',
    metadata: { name: 'vm-1', namespace: 'team', uid: '0b6f5c9e-8d55-4d2c-9a53-3c1c3b0f3f11' },
    spec: { virtualMachineName: 'vm-1' },
  } as unknown as VirtualMachineImport;
  const { deployment, networkPolicy } = diskServerManifests(vmImport, 'token', 'image');
  assert.deepEqual(networkPolicy.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels);
  assert.equal(networkPolicy.metadata.namespace, 'team');
  assert.deepEqual(networkPolicy.spec.policyTypes, ['Ingress']);
  assert.equal(networkPolicy.spec.ingress.length, 1);
  const [rule] = networkPolicy.spec.ingress;
  assert.deepEqual(rule!.ports, [{ protocol: 'TCP', port: DISK_SERVER_PORT }]);
  assert.deepEqual(rule!.from, [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'longhorn-system' } },
      podSelector: { matchLabels: { 'longhorn.io/component': 'backing-image-data-source' } },
    },
    { podSelector: { matchLabels: { app: 'containerized-data-importer', 'cdi.kubevirt.io': 'importer' } } },
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'harvester-system' } },
      podSelector: {
        matchLabels: { 'app.kubernetes.io/name': 'harvester', 'app.kubernetes.io/component': 'apiserver' },
      },
    },
  ]);
  assert.equal(networkPolicy.metadata.ownerReferences[0]?.uid, vmImport.metadata.uid);
});
