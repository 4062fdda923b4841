// The VMware client against the vcsim-export simulator (real SOAP, real TLS, real NFC lease).
import axios from 'axios';
import { Agent } from 'node:https';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { PowerConditionType } from '../../functions/shared/sources/power-conditions.ts';
import {
  resolveVmwareConnection,
  type VmwareConnection,
} from '../../functions/shared/sources/vmware/connection.ts';
import { describeVmwareVm } from '../../functions/shared/sources/vmware/describe.ts';
import { exportVmwareVm } from '../../functions/shared/sources/vmware/export.ts';
import {
  powerOnVmwareVm,
  stepVmwarePowerOff,
  vmwarePowerState,
} from '../../functions/shared/sources/vmware/power.ts';
import { closeVmwareSessions } from '../../functions/shared/sources/vmware/session.ts';
import { preflightVmwareImport, verifyVmwareSource } from '../../functions/shared/sources/vmware/verify.ts';
import { retrieveObjectProperties } from '../../functions/shared/sources/vmware/inventory.ts';
import { vimCall, withVimSession } from '../../functions/shared/sources/vmware/session.ts';
import { moRefArg, text, toMoRef, type MoRef } from '../../functions/shared/sources/vmware/soap-values.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import { Inventory } from '../../local-cluster/simulators/inventory.ts';
import { startVcsim, type Vcsim } from '../../local-cluster/simulators/vcsim/index.ts';
import { terminateVcenterSessions } from '../support/vcenter-sessions.ts';

const run = promisify(execFile);
const WORK = join(process.cwd(), 'test/.fixtures/vmware-it');

const inventory = Inventory.parse({
  vmware: {
    datacenter: 'DC0',
    networks: [
      { name: 'VM Network', type: 'standard' },
      { name: 'dvSwitch 1', type: 'distributed' },
    ],
    vms: [
      {
        name: 'export-vm',
        folder: 'Discovered VM/nested',
        powerState: 'poweredOff',
        toolsRunning: false,
        cpus: 4,
        coresPerSocket: 2,
        memoryMiB: 512,
        firmware: 'efi',
        secureBoot: true,
        tpm: true,
        disks: [
          { sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 40, seed: 1 },
          { sizeMiB: 4, controller: 'sata', allocatedPercent: 50, seed: 2 },
        ],
        nics: [
          { network: 'dvSwitch 1', type: 'vmxnet3', mac: '00:50:56:01:02:03' },
          { network: 'VM Network', type: 'e1000', mac: '00:50:56:01:02:04' },
        ],
      },
      {
        name: 'controllers-vm',
        powerState: 'poweredOff',
        disks: [
          { sizeMiB: 1, controller: 'lsilogic', seed: 3 },
          { sizeMiB: 1, controller: 'lsilogic-sas', seed: 4 },
          { sizeMiB: 1, controller: 'buslogic', seed: 5 },
          { sizeMiB: 1, controller: 'ide', seed: 6 },
          { sizeMiB: 1, controller: 'nvme', seed: 7 },
        ],
        nics: [
          { network: 'VM Network', type: 'e1000e' },
          { network: 'VM Network', type: 'pcnet32' },
          { network: 'VM Network', type: 'vmxnet2' },
        ],
      },
      { name: 'tools-vm', toolsRunning: true, shutdownSeconds: 0.5, disks: [{ sizeMiB: 1, seed: 8 }] },
      { name: 'notools-vm', toolsRunning: false, disks: [{ sizeMiB: 1, seed: 9 }] },
      { name: 'forced-vm', toolsRunning: false, disks: [{ sizeMiB: 1, seed: 10 }] },
      { name: 'slow-vm', toolsRunning: true, shutdownSeconds: 60, disks: [{ sizeMiB: 1, seed: 11 }] },
      { name: 'on-vm', toolsRunning: true, disks: [{ sizeMiB: 1, seed: 12 }] },
      {
        name: 'abort-vm',
        powerState: 'poweredOff',
        disks: [{ sizeMiB: 16, allocatedPercent: 100, seed: 13 }],
      },
      { name: 'timeout-vm', powerState: 'poweredOff', disks: [{ sizeMiB: 1, seed: 14 }] },
    ],
  },
});

let vcsim: Vcsim;
let conn: VmwareConnection;
const DC = 'DC0';

function connection(
  overrides: Record<string, string | undefined> = {},
  endpoint = vcsim.url,
): VmwareConnection {
  return resolveVmwareConnection(
    { endpoint },
    { username: vcsim.username, password: vcsim.password, caCert: vcsim.caCertPem, ...overrides },
  );
}

async function rejectsWith(promise: Promise<unknown>, reason: string, message: RegExp): Promise<SourceError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof SourceError, `expected a SourceError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${reason}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

before(async () => {
  vcsim = await startVcsim({ inventory, workDir: WORK, leaseTimeoutSeconds: 2 });
  conn = connection();
});
after(async () => {
  await closeVmwareSessions();
  await vcsim?.stop();
});

describe('verifyVmwareSource', () => {
  test('ok when the datacenter exists (also given as "/DC0")', async () => {
    await verifyVmwareSource(conn, 'DC0');
    await verifyVmwareSource(conn, '/DC0');
  });
  test('DatacenterNotFound names the datacenter', async () => {
    await rejectsWith(
      verifyVmwareSource(conn, 'NoSuchDC'),
      'DatacenterNotFound',
      /datacenter "NoSuchDC" not found/,
    );
  });
  test('InvalidCredentials on a wrong password, without the password in the message', async () => {
    const err = await rejectsWith(
      verifyVmwareSource(connection({ password: 'wrong-secret-123' }), DC),
      'InvalidCredentials',
      /wrong user name or password/,
    );
    assert.doesNotMatch(err.message + String(err.stack), /wrong-secret-123/);
  });
  test('EndpointUnreachable when nothing listens', async () => {
    const port = await freePort();
    const err = await rejectsWith(
      verifyVmwareSource(connection({}, `https://127.0.0.1:${port}/sdk`), DC),
      'EndpointUnreachable',
      new RegExp(`cannot reach https://127.0.0.1:${port}/sdk \\(ECONNREFUSED\\)`),
    );
    assert.equal(err.retryable, true);
  });
  test('TlsVerificationFailed without the CA, naming the caCert key; explicit opt-out works', async () => {
    await rejectsWith(
      verifyVmwareSource(connection({ caCert: undefined }), DC),
      'TlsVerificationFailed',
      /key "caCert" of the credentials Secret/,
    );
    await verifyVmwareSource(connection({ caCert: undefined, insecureSkipVerify: 'true' }), DC);
  });
});

describe('preflightVmwareImport', () => {
  test('ok with standard and distributed portgroups and a nested folder', async () => {
    await preflightVmwareImport(conn, DC, {
      name: 'export-vm',
      folder: 'Discovered VM/nested',
      networkMapping: [{ sourceNetwork: 'VM Network' }, { sourceNetwork: 'dvSwitch 1' }],
    });
  });
  test('SourceNetworkNotFound for an unknown network', async () => {
    await rejectsWith(
      preflightVmwareImport(conn, DC, {
        name: 'export-vm',
        folder: 'Discovered VM/nested',
        networkMapping: [{ sourceNetwork: 'nope' }],
      }),
      'SourceNetworkNotFound',
      /source network 'nope' not found/,
    );
  });
  test('VirtualMachineNotFound for a wrong folder', async () => {
    await rejectsWith(
      preflightVmwareImport(conn, DC, { name: 'export-vm', folder: 'Discovered VM' }),
      'VirtualMachineNotFound',
      /failed to find VM: no virtual machine "export-vm" at inventory path \/DC0\/vm\/Discovered VM\/export-vm/,
    );
  });
  test('ToolsNotRunning with the upstream message unless forcePowerOff or already off', async () => {
    await rejectsWith(
      preflightVmwareImport(conn, DC, { name: 'notools-vm' }),
      'ToolsNotRunning',
      /^cannot shutdown guest OS, VMware Tools is not running in the VM notools-vm\. Shut down the VM manually or use the 'spec\.forcePowerOff' field$/,
    );
    await preflightVmwareImport(conn, DC, { name: 'notools-vm', forcePowerOff: true });
    await preflightVmwareImport(conn, DC, { name: 'export-vm', folder: 'Discovered VM/nested' });
    await preflightVmwareImport(conn, DC, { name: 'tools-vm' });
  });
});

describe('describeVmwareVm', () => {
  test('hardware, firmware, disks with buses and NICs with networks', async () => {
    const vm = await describeVmwareVm(conn, DC, { name: 'export-vm', folder: 'Discovered VM/nested' });
    assert.deepEqual(vm.cpu, { sockets: 2, cores: 2, threads: 1 });
    assert.equal(vm.memoryMiB, 512);
    assert.deepEqual(vm.firmware, { type: 'efi', secureBoot: true, tpm: true });
    assert.deepEqual(
      vm.disks.map((d) => [d.index, d.sizeBytes, d.bus]),
      [
        [0, 8 << 20, 'scsi'],
        [1, 4 << 20, 'sata'],
      ],
    );
    assert.deepEqual(vm.nics, [
      { network: 'dvSwitch 1', mac: '00:50:56:01:02:03', model: 'virtio' },
      { network: 'VM Network', mac: '00:50:56:01:02:04', model: 'e1000' },
    ]);
  });
  test('every controller type and NIC type maps through one table', async () => {
    const vm = await describeVmwareVm(conn, DC, { name: 'controllers-vm' });
    assert.deepEqual(
      vm.disks.map((d) => d.bus),
      ['scsi', 'scsi', 'scsi', 'sata', 'virtio'],
    );
    assert.deepEqual(
      vm.nics.map((n) => n.model),
      ['e1000e', 'pcnet', 'virtio'],
    );
    assert.deepEqual(vm.firmware, { type: 'bios', secureBoot: false, tpm: false });
  });
});

describe('power-off sub-state machine', () => {
  type Conds = Partial<Record<PowerConditionType, { since: Date }>>;
  async function drive(
    name: string,
    spec: { forcePowerOff: boolean; gracefulShutdownTimeoutSeconds?: number },
  ) {
    const conditions: Conds = {};
    const actions: string[] = [];
    for (let i = 0; i < 200; i++) {
      const { action } = await stepVmwarePowerOff(conn, DC, { name }, { ...spec, conditions });
      if (action.kind === 'done') return actions;
      if (action.kind !== 'wait')
        actions.push(action.kind === 'powerOff' ? `powerOff:${action.why}` : action.kind);
      if (action.kind === 'fail') return actions;
      if ('condition' in action) conditions[action.condition] = { since: new Date() };
      if (action.kind === 'wait') await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail('did not finish');
  }

  test('graceful shutdown with Tools', async () => {
    assert.deepEqual(await drive('tools-vm', { forcePowerOff: false }), ['shutdownGuest', 'markPoweredOff']);
    assert.equal((await vmwarePowerState(conn, DC, { name: 'tools-vm' })).powerState, 'poweredOff');
  });
  test('without Tools: a terminal failure with a clear message, the VM stays on', async () => {
    const { action } = await stepVmwarePowerOff(
      conn,
      DC,
      { name: 'notools-vm' },
      { forcePowerOff: false, conditions: {} },
    );
    assert.equal(action.kind, 'fail');
    assert.match(
      action.kind === 'fail' ? action.message : '',
      /VMware Tools is not running in the VM notools-vm/,
    );
    assert.equal((await vmwarePowerState(conn, DC, { name: 'notools-vm' })).powerState, 'poweredOn');
  });
  test('forced power-off needs no Tools', async () => {
    assert.deepEqual(await drive('forced-vm', { forcePowerOff: true }), [
      'powerOff:forced',
      'markPoweredOff',
    ]);
  });
  test('escalates to a power-off after the graceful timeout', async () => {
    const started = Date.now();
    assert.deepEqual(await drive('slow-vm', { forcePowerOff: false, gracefulShutdownTimeoutSeconds: 1 }), [
      'shutdownGuest',
      'powerOff:gracefulTimeout',
      'markPoweredOff',
    ]);
    assert.ok(Date.now() - started >= 1000);
  });
  test('powers a VM that was powered off on again; asking again is harmless', async () => {
    assert.equal((await vmwarePowerState(conn, DC, { name: 'forced-vm' })).powerState, 'poweredOff');
    assert.equal((await powerOnVmwareVm(conn, DC, { name: 'forced-vm' })).state, 'on');
    assert.equal((await vmwarePowerState(conn, DC, { name: 'forced-vm' })).powerState, 'poweredOn');
    assert.equal((await powerOnVmwareVm(conn, DC, { name: 'forced-vm' })).state, 'on');
  });
});

describe('exportVmwareVm', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'vmware-export-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('refuses a powered-on VM', async () => {
    await rejectsWith(
      exportVmwareVm(conn, DC, { name: 'on-vm' }, { scratchDir: scratch }),
      'VmNotPoweredOff',
      /not powered off/,
    );
  });

  test('2 disks on different controllers: byte-identical to the source and to qemu-img convert', async () => {
    const progress: number[] = [];
    const disks = await exportVmwareVm(
      conn,
      DC,
      { name: 'export-vm', folder: 'Discovered VM/nested' },
      { scratchDir: scratch, concurrency: 2, onProgress: (p) => progress.push(p.index) },
      { leaseProgressIntervalMs: 200 },
    );
    assert.deepEqual(
      disks.map((d) => [d.index, d.sizeBytes, d.bus]),
      [
        [0, 8 << 20, 'scsi'],
        [1, 4 << 20, 'sata'],
      ],
    );
    assert.ok(progress.includes(0) && progress.includes(1));
    const sources = vcsim.disks.filter((d) => d.vm === 'export-vm');
    for (const disk of disks) {
      const source = sources[disk.index]!;
      assert.ok(
        (await readFile(disk.path)).equals(await readFile(source.rawPath)),
        `disk ${disk.index} differs from its source`,
      );
      assert.equal(disk.allocatedBytes, source.allocatedBytes);
      const viaQemu = join(scratch, `qemu-${disk.index}.raw`);
      await run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', source.vmdkPath, viaQemu]);
      await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', disk.path, viaQemu]);
      const info = JSON.parse(
        (await run('qemu-img', ['info', '--output=json', '-f', 'raw', disk.path])).stdout,
      ) as {
        'virtual-size': number;
      };
      assert.equal(info['virtual-size'], disk.sizeBytes);
      await rm(viaQemu);
    }
    await rm(disks[0]!.path);
    await rm(disks[1]!.path);
  });

  test('the session terminated mid-transfer (TerminateSession): the lease calls log in again, the disks are byte-identical', async () => {
    const dir = await mkdtemp(join(scratch, 'terminated-'));
    const leases = () => [...vcsim.logs().matchAll(/lease \S+ created for export-vm/g)].length;
    const leasesBefore = leases();
    let terminated: Promise<number> | undefined;
    const disks = await exportVmwareVm(
      conn,
      DC,
      { name: 'export-vm', folder: 'Discovered VM/nested' },
      {
        scratchDir: dir,
        concurrency: 1,
        onProgress: (p) => {
          if (!terminated && p.bytesDone > 0)
            terminated = terminateVcenterSessions({
              url: vcsim.url,
              username: vcsim.username,
              password: vcsim.password,
              caCert: vcsim.caCertPem,
            });
        },
      },
      // Longer than the termination takes: the next lease call is the first on the ended session.
      { leaseProgressIntervalMs: 1000 },
    );
    assert.ok(((await terminated) ?? 0) >= 1, 'the export session was terminated mid-transfer');
    const sources = vcsim.disks.filter((d) => d.vm === 'export-vm');
    for (const disk of disks)
      assert.ok(
        (await readFile(disk.path)).equals(await readFile(sources[disk.index]!.rawPath)),
        `disk ${disk.index} differs from its source`,
      );
    // The same lease went on and was completed: no second ExportVm, no disk byte downloaded twice.
    assert.equal(leases() - leasesBefore, 1);
    const { data } = await axios.get<{ leases: { lease: string; state: string }[] }>(
      new URL('/_sim/leases', vcsim.url).href,
      { httpsAgent: new Agent({ ca: vcsim.caCertPem }) },
    );
    const last = [...vcsim.logs().matchAll(/lease (\S+) created for export-vm/g)].at(-1)![1];
    assert.equal(data.leases.find((l) => l.lease === last)?.state, 'done');
  });

  test("a lease left by a killed exporter (noted on the scratch volume) is aborted before the next export's", async () => {
    const dir = await mkdtemp(join(scratch, 'killed-'));
    const earlier = await withVimSession(conn, async (s) => {
      const vm = toMoRef(
        await vimCall(s, 'FindByInventoryPath', {
          _this: moRefArg(s.content.searchIndex),
          inventoryPath: 'DC0/vm/abort-vm',
        }),
      )!;
      return toMoRef(await vimCall(s, 'ExportVm', { _this: moRefArg(vm) }))!;
    });
    // What the killed pod's exporter left: its lease's id, and no chance to abort it.
    await writeFile(join(dir, '.vmware-export-lease'), earlier.value);
    const disks = await exportVmwareVm(conn, DC, { name: 'abort-vm' }, { scratchDir: dir });
    assert.ok(disks.length > 0);
    const states = await withVimSession(conn, async (s) => {
      const props = await retrieveObjectProperties(s, earlier, ['state', 'error']);
      return { state: text(props.get('state')), error: JSON.stringify(props.get('error') ?? null) };
    });
    assert.equal(states.state, 'error');
    assert.match(states.error, /RequestCanceled/);
    assert.deepEqual((await readdir(dir)).sort(), disks.map((d) => basename(d.path)).sort());
  });

  test('an interrupted download aborts the lease and leaves no partial image', async () => {
    const dir = await mkdtemp(join(scratch, 'abort-'));
    const stop = new AbortController();
    await rejectsWith(
      exportVmwareVm(
        conn,
        DC,
        { name: 'abort-vm' },
        {
          scratchDir: dir,
          signal: stop.signal,
          onProgress: (p) => {
            if (p.bytesDone > 0) stop.abort();
          },
        },
      ),
      'Aborted',
      /cancelled/,
    );
    assert.deepEqual(await readdir(dir), []);
    const lease = await leaseOf('abort-vm');
    assert.equal(lease.state, 'error');
    assert.match(lease.error, /RequestCanceled/);
  });

  test('a lease without progress calls times out (state error, Timedout)', async () => {
    await withVimSession(conn, async (s) => {
      const vm = toMoRef(
        await vimCall(s, 'FindByInventoryPath', {
          _this: moRefArg(s.content.searchIndex),
          inventoryPath: 'DC0/vm/timeout-vm',
        }),
      )!;
      const lease = toMoRef(await vimCall(s, 'ExportVm', { _this: moRefArg(vm) }))!;
      let state = '';
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const props = await retrieveObjectProperties(s, lease, ['state', 'error']);
        state = text(props.get('state')) ?? '';
        if (state === 'error') {
          assert.match(JSON.stringify(props.get('error')), /Timedout/);
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(state, 'error');
      await assert.rejects(
        vimCall(s, 'HttpNfcLeaseProgress', { _this: moRefArg(lease), percent: 10 }),
        /Timedout/,
      );
    });
  });
});

/** State and error of the latest export lease of a VM (the simulator logs each lease it creates). */
async function leaseOf(vmName: string): Promise<{ state: string; error: string }> {
  const ids = [...vcsim.logs().matchAll(/lease (\S+) created for (\S+)/g)]
    .filter((m) => m[2] === vmName)
    .map((m) => m[1]!);
  const id = ids.at(-1);
  assert.ok(id, `the simulator logged no lease for ${vmName}`);
  const ref: MoRef = { type: 'HttpNfcLease', value: id };
  return withVimSession(conn, async (s) => {
    const props = await retrieveObjectProperties(s, ref, ['state', 'error']);
    return { state: text(props.get('state')) ?? '', error: JSON.stringify(props.get('error') ?? null) };
  });
}
