// The OpenStack simulator as the integration tests use it: one inventory (servers with two
// volumes, an image-booted one, a duplicated name, a plain one) and its
// faults set over HTTP, for the local cluster's simulator.
import axios from 'axios';
import { Agent } from 'node:https';
import type { Inventory } from '../../local-cluster/simulators/inventory.ts';
import type { OpenstackFaults } from '../../local-cluster/simulators/openstack/model.ts';

export const TWO_DISKS = 'aaaaaaaa-1111-4111-8111-000000000001';
export const IMAGE_BOOTED = 'aaaaaaaa-1111-4111-8111-000000000002';
export const OPENSTACK_TEST_INVENTORY: Inventory = {
  openstack: {
    region: 'RegionOne',
    networks: ['shared', 'public', 'unused'],
    servers: [
      {
        name: 'two-disks',
        id: TWO_DISKS,
        status: 'ACTIVE',
        flavor: { vcpus: 2, ramMiB: 1024 },
        description: 'two volumes, two NICs',
        // The data volume comes first in the inventory (and in volumes_attached): boot order must
        // still put the bootable root volume first.
        volumes: [
          { sizeMiB: 8, bootable: false, allocatedPercent: 50, seed: 11, imageProperties: {} },
          {
            sizeMiB: 16,
            bootable: true,
            allocatedPercent: 40,
            seed: 12,
            imageProperties: {
              hw_firmware_type: 'uefi',
              os_secure_boot: 'required',
              hw_tpm_model: 'tpm-crb',
            },
          },
        ],
        bootFromImage: false,
        ports: [
          { network: 'public', mac: 'FA:16:3E:00:00:02', ip: '172.24.4.5' },
          { network: 'shared', mac: 'fa:16:3e:00:00:01' },
        ],
      },
      {
        name: 'image-booted',
        id: IMAGE_BOOTED,
        status: 'SHUTOFF',
        flavor: { vcpus: 1, ramMiB: 512 },
        volumes: [],
        bootFromImage: true,
        rootDisk: { sizeMiB: 8, allocatedPercent: 30, seed: 13 },
        ports: [{ network: 'shared', mac: 'fa:16:3e:00:00:03', ip: '10.0.0.7' }],
      },
      {
        name: 'dup',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 1, bootable: true, allocatedPercent: 0, seed: 0, imageProperties: {} }],
        bootFromImage: false,
        ports: [],
        id: 'aaaaaaaa-1111-4111-8111-000000000003',
      },
      {
        name: 'dup',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 1, bootable: true, allocatedPercent: 0, seed: 0, imageProperties: {} }],
        bootFromImage: false,
        ports: [],
        id: 'aaaaaaaa-1111-4111-8111-000000000004',
      },
      {
        name: 'testvm',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 2, bootable: true, allocatedPercent: 100, seed: 5, imageProperties: {} }],
        bootFromImage: false,
        ports: [],
        id: 'aaaaaaaa-1111-4111-8111-000000000005',
      },
    ],
  },
};

/**
 * Sets faults of an OpenStack simulator that runs behind a URL only (the local cluster's), through
 * its test-control route POST /_sim/faults (routes.ts): what `OpenstackSimulator.setFaults` does
 * in-process. Verifies the simulator's certificate with its CA.
 */
export async function setOpenstackSimulatorFaults(
  endpoint: { url: string; ca_cert?: string },
  faults: OpenstackFaults,
): Promise<void> {
  await axios.post(new URL('/_sim/faults', endpoint.url).href, faults, {
    httpsAgent: new Agent({ ...(endpoint.ca_cert ? { ca: endpoint.ca_cert } : {}) }),
  });
}

/**
 * Ends every session of the simulated cloud as a user (or an admin) revoking tokens does: each
 * token the simulator still accepts (its test-control route GET /_sim/tokens) is revoked through
 * Keystone's own DELETE /v3/auth/tokens, authenticated by itself. Returns how many were revoked.
 */
export async function revokeOpenstackTokens(endpoint: { url: string; ca_cert?: string }): Promise<number> {
  const httpsAgent = new Agent({ ...(endpoint.ca_cert ? { ca: endpoint.ca_cert } : {}) });
  const { data } = await axios.get<{ tokens: string[] }>(new URL('/_sim/tokens', endpoint.url).href, {
    httpsAgent,
  });
  const identity = endpoint.url.replace(/\/v3\/?$/, '');
  let revoked = 0;
  for (const token of data.tokens) {
    const res = await axios.delete(`${identity}/v3/auth/tokens`, {
      httpsAgent,
      headers: { 'X-Auth-Token': token, 'X-Subject-Token': token },
      validateStatus: () => true,
    });
    if (res.status === 204) revoked++;
    else if (res.status !== 404) throw new Error(`Keystone answered ${res.status} to the revocation`);
  }
  return revoked;
}
