// The hostile-input corpus (issue 22): every case must end in its specific reason (or be accepted
// when that is the right answer), write nothing outside the sandbox's scratch directory, leave
// nothing in scratch when it fails, and keep the process's RSS growth under MEMORY_BOUND_BYTES.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { closeVmwareSessions } from '../../functions/shared/sources/vmware/session.ts';
import { startBufferServer, type BufferServer } from '../support/hostile/ova.ts';
import { openstackCaseFactories, soapCaseFactories, startApiServers } from './cases-api.ts';
import { imageCases, vmdkCases } from './cases-disk.ts';
import { ovaCaseFactories, ovfCases } from './cases-ova.ts';
import type { HostileCase, HostileKind } from './case.ts';
import { reasonOf, runInSandbox } from './harness.ts';

/**
 * Peak RSS growth allowed while one case runs. The inputs that used to be buffered are 200-256
 * MiB; a case held in memory shows as growth well above this.
 */
const MEMORY_BOUND_BYTES = 96 * 1024 * 1024;
const MIN_CASES_PER_KIND = 10;

let ovaServer: BufferServer;
let api: Awaited<ReturnType<typeof startApiServers>>;
const cases: HostileCase[] = [...vmdkCases, ...imageCases, ...ovfCases];

before(async () => {
  ovaServer = await startBufferServer();
  api = await startApiServers();
});
after(async () => {
  await closeVmwareSessions();
  await ovaServer.close();
  await api.openstack.close();
  await api.vcenter.close();
});

describe('hostile-input corpus', () => {
  // Factories need the servers, which exist only once `before` ran: build those cases lazily.
  const lazy: { kind: HostileKind; name: string; expect: string; make: () => HostileCase }[] = [
    ...ovaCaseFactories.map((f) => {
      const probe = f(undefined as unknown as BufferServer);
      return { kind: probe.kind, name: probe.name, expect: probe.expect, make: () => f(ovaServer) };
    }),
    ...openstackCaseFactories.map((f) => {
      const probe = f(undefined as never);
      return { kind: probe.kind, name: probe.name, expect: probe.expect, make: () => f(api.openstack) };
    }),
    ...soapCaseFactories.map((f) => {
      const probe = f(undefined as never);
      return { kind: probe.kind, name: probe.name, expect: probe.expect, make: () => f(api.vcenter) };
    }),
  ];
  const all = [
    ...cases.map((c) => ({ kind: c.kind, name: c.name, expect: c.expect, make: () => c })),
    ...lazy,
  ];

  test(`the corpus holds at least 100 cases, at least ${MIN_CASES_PER_KIND} of each kind`, () => {
    assert.ok(all.length >= 100, `${all.length} cases`);
    const perKind = new Map<string, number>();
    for (const c of all) perKind.set(c.kind, (perKind.get(c.kind) ?? 0) + 1);
    for (const kind of ['vmdk', 'ovf', 'ova', 'qcow2', 'openstack-json', 'soap'])
      assert.ok((perKind.get(kind) ?? 0) >= MIN_CASES_PER_KIND, `${kind}: ${perKind.get(kind) ?? 0} cases`);
  });

  for (const c of all) {
    test(`${c.kind}: ${c.name} → ${c.expect}`, { timeout: 60_000 }, async () => {
      const hostile = c.make();
      const outcome = await runInSandbox(hostile.run, hostile.prepare);
      const got = outcome.error === undefined ? 'accepted' : reasonOf(outcome.error);
      assert.equal(got, c.expect, outcome.error instanceof Error ? outcome.error.message : got);
      assert.deepEqual(outcome.strayEntries, [], 'nothing written next to scratch');
      assert.deepEqual(outcome.outsideEntries, [], 'nothing written outside scratch');
      if (outcome.error !== undefined)
        assert.deepEqual(outcome.scratchEntries, [], 'a failure leaves scratch empty');
      assert.ok(
        outcome.peakRssGrowthBytes < MEMORY_BOUND_BYTES,
        `RSS grew by ${(outcome.peakRssGrowthBytes / 2 ** 20).toFixed(0)} MiB`,
      );
      if (outcome.error instanceof Error) {
        assert.ok(
          !/\/tmp\/hostile-/.test(outcome.error.message),
          `no sandbox path in "${outcome.error.message}"`,
        );
      }
    });
  }
});
