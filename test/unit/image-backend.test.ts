import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageBackendFor } from '../../functions/shared/harvester/image-backend.ts';

const sc = (provisioner: string, parameters: Record<string, string> = {}) => ({ provisioner, parameters });

test('imageBackendFor: Longhorn v1 classes get backing images, Longhorn v2 and third-party CSI get CDI (upstream pkg/util/storageclass.go)', () => {
  assert.equal(imageBackendFor(sc('driver.longhorn.io', { dataEngine: 'v1' })), 'backingimage');
  // Longhorn's own default data engine is v1 (upstream's Go controller sends cdi here; Harvester's
  // default class has no dataEngine parameter and backs images with backing images).
  assert.equal(imageBackendFor(sc('driver.longhorn.io')), 'backingimage');
  assert.equal(imageBackendFor(sc('driver.longhorn.io', { dataEngine: 'v2' })), 'cdi');
  assert.equal(imageBackendFor(sc('lvm.driver.harvesterhci.io')), 'cdi');
  assert.equal(imageBackendFor(sc('nfs.csi.k8s.io')), 'cdi');
});
