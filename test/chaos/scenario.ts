// One chaos row: start the import, wait for the moment, inject the fault, wait for the end, then
// check the end (running with identical disks, or failed with the expected message, or gone),
// the source's power state, and that nothing is left behind. Finally removes the row's VM, images
// and import so that the next row starts clean.
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  ImportStatus,
  isTerminalImport,
  type VirtualMachineImportStatus,
} from '../../functions/shared/api/index.ts';
import { ANNOTATION_IMAGE_ID, LABEL_IMPORT_NAME } from '../../functions/shared/labels.ts';
import { importStatus } from '../../local-cluster/import-status.ts';
import { sameDisk } from '../support/e2e.ts';
import { openstackServerStatus, vmwarePowerStateOf } from '../support/source-power.ts';
import { momentName, type ChaosContext, type ChaosTarget, type Fault } from './fault.ts';
import { leftovers, sourceBaseline } from './leftovers.ts';
import { describeObservation, waitForMoment } from './moments.ts';

export interface RowResult {
  fault: string;
  kind: Fault['kind'];
  source: string;
  moment: string;
  /** What shows the fault hit where intended. */
  proof: string;
  /** How the import ended: its importStatus and last condition, or "deleted". */
  outcome: string;
  recoverSeconds: number | undefined;
  leftovers: string[];
  /** "yes"/"no" where it ended running, "n/a" otherwise. */
  bytesIdentical: 'yes' | 'no' | 'n/a';
  /** Why the row fails; empty when it passes. */
  problems: string[];
}

const SOURCE_KIND = { vmware: 'VmwareSource', openstack: 'OpenstackSource', ova: 'OvaSource' } as const;
const SOURCE_NAME = { vmware: 'vcsim', openstack: 'devstack' } as const;

export function importYaml(ctx: ChaosContext, t: ChaosTarget): string {
  const docs: Record<string, unknown>[] = [];
  let sourceName: string;
  if (t.source === 'ova') {
    // One OvaSource per OVA file (its URL names the file), trusting the OVA server's CA like the
    // example source does.
    sourceName = t.vmName;
    docs.push({
      apiVersion: 'migration.harvesterhci.io/v1beta1',
      kind: 'OvaSource',
      metadata: { name: sourceName, namespace: t.namespace },
      spec: {
        url: `${ctx.cluster.endpoints.ova!.baseUrl}/${t.vmName}.ova`,
        credentials: { name: 'appliance-ova-ca', namespace: 'default' },
      },
    });
  } else sourceName = SOURCE_NAME[t.source];
  docs.push({
    apiVersion: 'migration.harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImport',
    metadata: { name: t.name, namespace: t.namespace },
    spec: {
      virtualMachineName: t.vmName,
      sourceCluster: {
        name: sourceName,
        namespace: t.namespace,
        kind: SOURCE_KIND[t.source],
        apiVersion: 'migration.harvesterhci.io/v1beta1',
      },
    },
  });
  return docs.map((d) => stringify(d)).join('---\n');
}

async function sourcePower(ctx: ChaosContext, t: ChaosTarget): Promise<'on' | 'off' | 'n/a'> {
  const e = ctx.cluster.endpoints;
  if (t.source === 'vmware')
    return (await vmwarePowerStateOf(e.vmware!, t.vmName)) === 'poweredOn' ? 'on' : 'off';
  if (t.source === 'openstack')
    return (await openstackServerStatus(e.openstack!, t.vmName)) === 'ACTIVE' ? 'on' : 'off';
  return 'n/a';
}

/** Phases in which the import's VirtualMachine exists. */
const VM_PHASES: string[] = [ImportStatus.VirtualMachineCreated, ImportStatus.VirtualMachineRunning];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns an empty list or `ms` pass; returns the last list. */
async function settle(check: () => Promise<string[]>, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check().catch((e: unknown) => [`check failed: ${(e as Error).message}`]);
    if (!found.length || Date.now() > deadline) return found;
    await sleep(2000);
  }
}

function outcomeOf(status: VirtualMachineImportStatus | undefined): string {
  if (!status) return 'deleted';
  const last = status.importConditions?.at(-1);
  return `${status.importStatus}${last ? `: ${last.reason ?? ''} ${last.message ?? ''}` : ''}`.trim();
}

export interface RowTimeouts {
  momentMs: number;
  endMs: number;
  cleanupMs: number;
}

export const DEFAULT_TIMEOUTS: RowTimeouts = { momentMs: 300_000, endMs: 600_000, cleanupMs: 120_000 };

export async function runRow(
  ctx: ChaosContext,
  fault: Fault,
  t: ChaosTarget,
  timeouts: RowTimeouts = DEFAULT_TIMEOUTS,
): Promise<RowResult> {
  const { cluster } = ctx;
  const row: RowResult = {
    fault: fault.name,
    kind: fault.kind,
    source: t.source,
    moment: momentName(fault.moment),
    proof: '',
    outcome: '',
    recoverSeconds: undefined,
    leftovers: [],
    bytesIdentical: 'n/a',
    problems: [],
  };
  const baseline = await sourceBaseline(cluster);
  await fault.arm?.(ctx, t);
  await cluster.kubectl(['apply', '-f', '-'], importYaml(ctx, t));
  const importUid = (
    await cluster.kubectl([
      'get',
      'virtualmachineimport.migration',
      t.name,
      '-n',
      t.namespace,
      '-o',
      'jsonpath={.metadata.uid}',
    ])
  ).trim();

  try {
    const at = await waitForMoment(cluster, t, fault.moment, timeouts.momentMs);
    ctx.log(`${fault.name}: moment reached (${describeObservation(at)})`);
    const injected = Date.now();
    const injection = await fault.inject(ctx, t, at);
    row.proof = injection.proof;
    if (!injection.hit) row.problems.push(`the fault missed its moment: ${injection.proof}`);
    ctx.log(`${fault.name}: injected: ${injection.proof}`);
    if (injection.heal) await injection.heal();

    // The end: terminal, or gone when the fault deleted the import.
    const deadline = Date.now() + timeouts.endMs;
    let status: VirtualMachineImportStatus | undefined;
    for (;;) {
      const exists = await cluster.kube
        .find('migration.harvesterhci.io/v1beta1', 'VirtualMachineImport', t.namespace, t.name)
        .catch(() => 'unknown' as const);
      if (exists !== 'unknown') {
        status = exists ? ((exists.status ?? {}) as VirtualMachineImportStatus) : undefined;
        if (!status || isTerminalImport(status)) break;
      }
      if (Date.now() > deadline) {
        row.problems.push(`not ended ${timeouts.endMs / 1000} s after the fault: ${outcomeOf(status)}`);
        break;
      }
      await sleep(1000);
    }
    row.recoverSeconds = Math.round((Date.now() - injected) / 100) / 10;
    row.outcome = outcomeOf(status);

    const expected = fault.expected;
    const running = status?.importStatus === ImportStatus.VirtualMachineRunning;
    if (expected.end === 'running' && !running) row.problems.push('expected virtualMachineRunning');
    if (expected.end === 'deleted' && status) row.problems.push('expected the import to be gone');
    if (expected.end === 'failed') {
      const message = status?.importConditions?.at(-1)?.message ?? '';
      if (!status || !isTerminalImport(status) || running)
        row.problems.push(`expected a failed import, got ${row.outcome}`);
      else if (!expected.message.test(message))
        row.problems.push(`message does not match ${expected.message}`);
    }

    if (running) {
      const identical = await Promise.all(
        (status!.diskImportStatus ?? []).map((d, i) =>
          sameDisk(
            join(cluster.stateDir, 'harvester', 'images', t.namespace, `${d.VirtualMachineImage}.raw`),
            join(cluster.stateDir, 'sources', t.source, t.vmName, `disk-${i}.raw`),
          ),
        ),
      );
      row.bytesIdentical = identical.length && identical.every(Boolean) ? 'yes' : 'no';
      if (row.bytesIdentical === 'no') row.problems.push('disk bytes differ from the source');
    }
    const kept = await keptWithVm(ctx, t);
    // A running import's own record of its images counts too (what its disks were compared with).
    if (running)
      for (const d of status!.diskImportStatus ?? [])
        if (d.VirtualMachineImage && !kept.images.includes(d.VirtualMachineImage))
          kept.images.push(d.VirtualMachineImage);

    // The source's power: off once its VM runs here (or exists, for a deletion after the VM),
    // otherwise back on (it was on before the import).
    const m = fault.moment;
    const vmMade =
      running || (expected.end === 'deleted' && typeof m === 'object' && VM_PHASES.includes(m.phase));
    if (t.source !== 'ova') {
      const want = vmMade ? 'off' : 'on';
      const power = await settle(async () => {
        const p = await sourcePower(ctx, t);
        return p === want ? [] : [`source VM ${t.vmName} is ${p}, the rules say ${want}`];
      }, 60_000);
      row.problems.push(...power);
    }
    row.leftovers = await settle(
      () => leftovers(cluster, { target: t, importUid, kept, baseline }),
      timeouts.cleanupMs,
    );
  } catch (e) {
    row.problems.push((e as Error).message);
    row.outcome ||= outcomeOf(await importStatus(cluster, t.name).catch(() => undefined));
  } finally {
    await removeRow(ctx, t).catch((e: unknown) =>
      ctx.log(`${fault.name}: removing the row failed: ${String(e)}`),
    );
  }
  if (row.leftovers.length) row.problems.push('left behind: ' + row.leftovers.join(', '));
  return row;
}

/**
 * What stays with the imported VM once it exists (also when the import is deleted after it):
 * the PVCs its volumes name and the images those PVCs were made from.
 */
async function keptWithVm(ctx: ChaosContext, t: ChaosTarget): Promise<{ images: string[]; pvcs: string[] }> {
  const out = await ctx.cluster.kubectl([
    'get',
    'virtualmachines.kubevirt.io,pvc',
    '-n',
    t.namespace,
    '-l',
    `${LABEL_IMPORT_NAME}=${t.name}`,
    '-o',
    'json',
  ]);
  const items = (JSON.parse(out) as { items: Record<string, any>[] }).items;
  const pvcs = items
    .filter((o) => o.kind === 'VirtualMachine')
    .flatMap((vm) => (vm.spec?.template?.spec?.volumes ?? []) as Record<string, any>[])
    .map((v) => (v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name) as string | undefined)
    .filter((n): n is string => !!n);
  const images = items
    .filter((o) => o.kind === 'PersistentVolumeClaim' && pvcs.includes(o.metadata?.name))
    .map((p) => String(p.metadata?.annotations?.[ANNOTATION_IMAGE_ID] ?? '').split('/')[1] ?? '')
    .filter(Boolean);
  return { images, pvcs };
}

/** Deletes the row's import, VM and images (the next row starts clean). */
async function removeRow(ctx: ChaosContext, t: ChaosTarget): Promise<void> {
  const k = ctx.cluster.kubectl;
  const selector = `${LABEL_IMPORT_NAME}=${t.name}`;
  await k([
    'delete',
    'virtualmachineimport.migration',
    t.name,
    '-n',
    t.namespace,
    '--ignore-not-found',
    '--timeout=120s',
  ]);
  await k([
    'delete',
    'virtualmachines.kubevirt.io',
    '-n',
    t.namespace,
    '-l',
    selector,
    '--ignore-not-found',
    '--timeout=120s',
  ]);
  // Volumes before images: Harvester refuses to delete an image a volume still uses.
  for (const kind of ['pvc', 'virtualmachineimages.harvesterhci.io'])
    await k(['delete', kind, '-n', t.namespace, '-l', selector, '--ignore-not-found', '--timeout=120s']);
  if (t.source === 'ova')
    await k(['delete', 'ovasource.migration', t.vmName, '-n', t.namespace, '--ignore-not-found']);
}
