// The OpenStack source client against the OpenStack simulator (real HTTPS with a private CA, real
// copies of disk data, qemu-img for qcow2): verify, lookup, describe, power, export and cleanup.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensurePki } from '../../local-cluster/pki.ts';
import { OpenstackClient } from '../../functions/shared/sources/openstack/client.ts';
import { describeOpenstackServer } from '../../functions/shared/sources/openstack/describe.ts';
import { isPoweredOff, startServer, stopServer } from '../../functions/shared/sources/openstack/power.ts';
import {
  preflightOpenstackServer,
  verifyOpenstackSource,
} from '../../functions/shared/sources/openstack/verify.ts';
import type { OpenstackConnection } from '../../functions/shared/sources/openstack/connection.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import { IMAGE_BOOTED, OPENSTACK_TEST_INVENTORY as inventory, TWO_DISKS } from '../support/openstack.ts';
import { openstackConnection } from '../../local-cluster/simulators/openstack/connection.ts';

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

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'openstack-client-'));
  sim = await startOpenstackSimulator({ inventory, workDir: join(work, 'sim'), serverImageFormat: 'qcow2' });
  conn = connection();
});

after(async () => {
  await sim?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('verify', () => {
  it('succeeds with good credentials over verified TLS', async () => {
    await verifyOpenstackSource(conn, { log });
  });

  it('reports InvalidCredentials for a wrong password, without the password in the message', async () => {
    const err = await rejectsWith(
      verifyOpenstackSource(connection({ password: 'wrong-secret' }), { log }),
      'InvalidCredentials',
    );
    assert.doesNotMatch(err.message, /wrong-secret/);
  });

  it('reports RegionNotFound listing the available regions', async () => {
    await rejectsWith(
      verifyOpenstackSource(connection({ region: 'RegionTwo' }), { log }),
      'RegionNotFound',
      /available regions: RegionOne/,
    );
  });

  it('reports TlsVerificationFailed for a CA that did not sign the certificate', async () => {
    const other = await ensurePki(join(work, 'other-pki'), ['localhost']);
    await rejectsWith(
      verifyOpenstackSource(connection({ caCertPem: other.caCertPem }), { log, retries: 0 }),
      'TlsVerificationFailed',
      /ca_cert/,
    );
  });

  it('reports EndpointUnreachable when nothing listens', async () => {
    const c = connection();
    c.endpoint = 'https://127.0.0.1:1/identity/v3';
    const err = await rejectsWith(
      verifyOpenstackSource(c, { log, retries: 1, retryBaseMs: 10 }),
      'EndpointUnreachable',
    );
    assert.equal(err.retryable, true);
  });
});

describe('server lookup', () => {
  let client: OpenstackClient;
  before(async () => {
    client = await OpenstackClient.connect(conn, { log });
  });

  it('finds a server by name and by UUID; a UUID resolves to the name', async () => {
    assert.equal((await client.findServer('two-disks')).id, TWO_DISKS);
    assert.equal(await (await client.findServer(TWO_DISKS)).name, 'two-disks');
  });

  it('rejects duplicate names, asking for the server ID', async () => {
    await rejectsWith(client.findServer('dup'), 'ServerNameNotUnique', /ID/);
  });

  it('does not match a name that is only a substring (no crash, B7)', async () => {
    await rejectsWith(client.findServer('test'), 'ServerNotFound');
    await rejectsWith(client.findServer('two'), 'ServerNotFound');
    await rejectsWith(client.findServer('two-disks.*'), 'ServerNotFound');
  });

  it('preflight checks networks and accepts image-booted servers', async () => {
    const ok = await preflightOpenstackServer(client, {
      virtualMachineName: 'image-booted',
      networkMapping: [{ sourceNetwork: 'shared' }],
    });
    assert.equal(ok.server.id, IMAGE_BOOTED);
    await rejectsWith(
      preflightOpenstackServer(client, {
        virtualMachineName: 'two-disks',
        networkMapping: [{ sourceNetwork: 'nope' }],
      }),
      'NetworkNotFound',
    );
  });
});

describe('describe and power', () => {
  it('describes hardware, firmware, disks in boot order and NICs in port order', async () => {
    const client = await OpenstackClient.connect(conn, { log });
    const vm = await describeOpenstackServer(client, 'two-disks');
    assert.equal(vm.name, 'two-disks');
    assert.deepEqual(vm.cpu, { sockets: 2, cores: 1, threads: 1 });
    assert.equal(vm.memoryMiB, 1024);
    assert.deepEqual(vm.firmware, { type: 'efi', secureBoot: true, tpm: true });
    const root = [...sim.model.volumes.values()].find((v) => v.name === 'two-disks-volume-1')!;
    assert.equal(vm.disks[0]!.label, `volume ${root.id}`);
    assert.equal(vm.disks.length, 2);
    assert.deepEqual(vm.nics, [
      // No hw_vif_model on the image: Nova's default NIC model, virtio (issue 23's device table).
      { network: 'public', mac: 'fa:16:3e:00:00:02', model: 'virtio' },
      { network: 'shared', mac: 'fa:16:3e:00:00:01', model: 'virtio' },
    ]);
    assert.deepEqual(vm.annotations, { 'field.cattle.io/description': 'two volumes, two NICs' });

    const booted = await describeOpenstackServer(client, IMAGE_BOOTED);
    assert.deepEqual(booted.firmware, { type: 'bios', secureBoot: false, tpm: false });
    assert.equal(booted.disks[0]!.label, `root disk of server ${IMAGE_BOOTED}`);
  });

  it('stops a server with os-stop and reports SHUTOFF once Nova is done', async () => {
    const client = await OpenstackClient.connect(conn, { log });
    const first = await stopServer(client, 'testvm');
    assert.equal(first.poweredOff, false);
    let off = false;
    for (let i = 0; i < 50 && !off; i++) {
      await new Promise((r) => setTimeout(r, 20));
      off = await isPoweredOff(client, 'testvm');
    }
    assert.equal(off, true);
    assert.equal((await stopServer(client, 'testvm')).poweredOff, true);
  });

  it('starts a stopped server with os-start; asking again is harmless', async () => {
    const client = await OpenstackClient.connect(conn, { log });
    assert.equal((await startServer(client, 'testvm')).state, 'requested');
    assert.equal((await startServer(client, 'testvm')).state, 'requested', 'while powering-on');
    let state = 'requested';
    for (let i = 0; i < 50 && state !== 'on'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      state = (await startServer(client, 'testvm')).state;
    }
    assert.equal(state, 'on');
    assert.equal((await client.findServer('testvm')).status, 'ACTIVE');
  });
});
