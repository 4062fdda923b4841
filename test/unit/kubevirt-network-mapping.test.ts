import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mapNetworks,
  multusNetworkName,
  unmappedNicsMessage,
} from '../../functions/shared/kubevirt/network-mapping.ts';
import type { SourceNic } from '../../functions/shared/sources/types.ts';
import type { VirtualMachineImportSpec } from '../../functions/shared/api/index.ts';

const nics: SourceNic[] = [
  { network: 'VM Network', mac: '00:50:56:00:00:01', model: 'e1000' },
  { network: 'dvSwitch 1', mac: '00:50:56:00:00:02', model: 'virtio' },
  { network: 'backup', mac: '00:50:56:00:00:03' },
];

test('mapped NICs get Multus + bridge + the source MAC, names unique and valid', () => {
  const spec: VirtualMachineImportSpec = {
    networkMapping: [
      { sourceNetwork: 'VM Network', destinationNetwork: 'vlan10' },
      {
        sourceNetwork: 'dvSwitch 1',
        destinationNetwork: 'infra/storage-net',
        networkInterfaceModel: 'e1000e',
      },
      { sourceNetwork: 'backup', destinationNetwork: 'default/backup' },
    ],
  };
  const r = mapNetworks(nics, spec, 'imports');
  assert.deepEqual(r.interfaces, [
    { name: 'nic-0', model: 'e1000', macAddress: '00:50:56:00:00:01', bridge: {} },
    { name: 'nic-1', model: 'e1000e', macAddress: '00:50:56:00:00:02', bridge: {} },
    { name: 'nic-2', model: 'virtio', macAddress: '00:50:56:00:00:03', bridge: {} },
  ]);
  assert.deepEqual(r.networks, [
    { name: 'nic-0', multus: { networkName: 'imports/vlan10' } },
    { name: 'nic-1', multus: { networkName: 'infra/storage-net' } },
    { name: 'nic-2', multus: { networkName: 'default/backup' } },
  ]);
  assert.deepEqual(r.unmapped, []);
});

test('model precedence: mapping > detected > spec default > virtio', () => {
  const one = (nic: SourceNic, spec: VirtualMachineImportSpec) =>
    mapNetworks([nic], spec, 'ns').interfaces[0]?.model;
  const map = (model?: 'rtl8139') => ({
    networkMapping: [{ sourceNetwork: 'n', destinationNetwork: 'd', networkInterfaceModel: model ?? null }],
  });
  assert.equal(
    one({ network: 'n', model: 'e1000' }, { ...map('rtl8139'), defaultNetworkInterfaceModel: 'pcnet' }),
    'rtl8139',
  );
  assert.equal(
    one({ network: 'n', model: 'e1000' }, { ...map(), defaultNetworkInterfaceModel: 'pcnet' }),
    'e1000',
  );
  assert.equal(one({ network: 'n' }, { ...map(), defaultNetworkInterfaceModel: 'pcnet' }), 'pcnet');
  assert.equal(one({ network: 'n' }, { ...map(), defaultNetworkInterfaceModel: '' }), 'virtio');
  assert.equal(one({ network: 'n' }, map()), 'virtio');
});

test('the first unmapped NIC goes to the pod network, later ones are reported, none silently dropped', () => {
  const spec: VirtualMachineImportSpec = {
    networkMapping: [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'vlan20' }],
    defaultNetworkInterfaceModel: 'e1000e',
  };
  const r = mapNetworks(nics, spec, 'ns');
  assert.deepEqual(r.interfaces, [
    { name: 'pod-network', model: 'e1000', macAddress: '00:50:56:00:00:01', masquerade: {} },
    { name: 'nic-1', model: 'virtio', macAddress: '00:50:56:00:00:02', bridge: {} },
  ]);
  assert.deepEqual(r.networks, [
    { name: 'pod-network', pod: {} },
    { name: 'nic-1', multus: { networkName: 'ns/vlan20' } },
  ]);
  assert.deepEqual(r.unmapped, [nics[2]]);
  const msg = unmappedNicsMessage(r.unmapped);
  assert.match(msg ?? '', /backup \(00:50:56:00:00:03\)/);
  assert.match(msg ?? '', /networkMapping/);
  assert.equal(unmappedNicsMessage([]), undefined);
});

test('no mapping at all: one pod-network NIC carrying the first NIC', () => {
  const r = mapNetworks(nics, {}, 'ns');
  assert.equal(r.networks.length, 1);
  assert.deepEqual(r.networks[0], { name: 'pod-network', pod: {} });
  assert.equal(r.interfaces[0]?.macAddress, '00:50:56:00:00:01');
  assert.equal(r.unmapped.length, 2);
});

test('a VM without NICs gets one pod-network NIC with the default model and no MAC', () => {
  const r = mapNetworks([], { defaultNetworkInterfaceModel: 'e1000' }, 'ns');
  assert.deepEqual(r.interfaces, [{ name: 'pod-network', model: 'e1000', masquerade: {} }]);
  assert.deepEqual(r.networks, [{ name: 'pod-network', pod: {} }]);
  assert.deepEqual(r.unmapped, []);
});

test('matching is exact and case-sensitive; first matching mapping wins; empty destination is no mapping', () => {
  const spec: VirtualMachineImportSpec = {
    networkMapping: [
      { sourceNetwork: 'vm network', destinationNetwork: 'wrong-case' },
      { sourceNetwork: 'VM Network', destinationNetwork: '' },
      { sourceNetwork: 'VM Network', destinationNetwork: 'first' },
      { sourceNetwork: 'VM Network', destinationNetwork: 'second' },
    ],
  };
  const r = mapNetworks([nics[0]!], spec, 'ns');
  assert.deepEqual(r.networks, [{ name: 'nic-0', multus: { networkName: 'ns/first' } }]);
});

test('a NIC without MAC on a mapped network has no macAddress', () => {
  const r = mapNetworks(
    [{ network: 'a' }],
    { networkMapping: [{ sourceNetwork: 'a', destinationNetwork: 'b' }] },
    'ns',
  );
  assert.deepEqual(r.interfaces, [{ name: 'nic-0', model: 'virtio', bridge: {} }]);
});

test('multusNetworkName', () => {
  assert.equal(multusNetworkName('vlan1', 'ns'), 'ns/vlan1');
  assert.equal(multusNetworkName('other/vlan1', 'ns'), 'other/vlan1');
});
