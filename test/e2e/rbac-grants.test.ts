// Least privilege, checked end to end: every function, the export Job and the ApiServerSource run
// with their own service account's token (the local runtime gives each pod its own), so a missing
// permission fails the imports; kube-apiserver's audit log records the RBAC decision and the
// binding that allowed each request (annotations authorization.k8s.io/decision and /reason), and
// every granted (role, group, resource, verb) that no request used is printed and fails the test.
import { KNATIVE_NAMESPACE } from '../../local-cluster/runtime/knative/eventing-install.ts';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { renderExample } from '../../local-cluster/examples.ts';
import { exportJobName } from '../../functions/export/job-spec.ts';
import { applyExampleSources, sendResyncTick, waitForImports } from '../support/e2e.ts';

/**
 * Grants only failure paths use, which a successful import and a deletion do not reach:
 * "<role> <group>/<resource> <verb>" → where the code uses it.
 */
const FAILURE_PATHS_ONLY: Record<string, string> = {
  'vm-import-dead-letter core/events create': 'dead-letter: only when the broker gives up on an event',
  'vm-import-image-status harvesterhci.io/virtualmachineimages delete':
    'image-status: resubmitting a failed VirtualMachineImage',
  'vm-import-image-status apps/deployments create': 'image-status: re-creates a deleted disk server',
  'vm-import-image-status core/services create': 'image-status: re-creates a deleted disk server',
  'vm-import-image-status harvesterhci.io/virtualmachineimages create': 'image-status: resubmit',
  'vm-import-image-status storage.k8s.io/storageclasses list':
    'image-status: targetStorage on resubmit (the backend of the next attempt)',
  'vm-import-image-status core/services get': 'image-status: ensureDiskServer on resubmit',
  'vm-import-image-status apps/deployments get': 'image-status: ensureDiskServer on resubmit',
  'vm-import-image-status networking.k8s.io/networkpolicies get':
    'image-status: ensureDiskServer on resubmit',
  'vm-import-image-status networking.k8s.io/networkpolicies create':
    'image-status: re-creates a deleted disk server',
  'vm-import-cleanup kubevirt.io/virtualmachines delete':
    'cleanup: an import deleted after its VM was created',
  'vm-import-cleanup harvesterhci.io/virtualmachineimages delete':
    'cleanup: an import deleted after its images were submitted',
  'vm-import-vm kubevirt.io/virtualmachines get':
    'vm: ensure() reads the VM back when its create finds it exists (a repeated event)',
  'vm-import-vm kubevirt.io/virtualmachines list':
    'vm: another import took the chosen VM name meanwhile, a new one is chosen',
  'vm-import-vm migration.harvesterhci.io/virtualmachineimports list':
    'vm: another import took the chosen VM name meanwhile, a new one is chosen',
  'vm-import-vm core/persistentvolumeclaims get':
    'vm: ensure() of a volume that already exists (a repeated event)',
  'vm-import-export migration.harvesterhci.io/virtualmachineimports patch':
    'export: wakes imports queued behind EXPORT_JOBS_PER_SOURCE (export-job-vmware.test.ts)',
  'vm-import-exporter core/configmaps get': 'exporter: ensure() when the Job is re-run',
  // Space check (functions/preflight/capacity-facts.ts): Longhorn's kinds, which only a cluster
  // with Longhorn serves (ResourceQuota and CSIStorageCapacity, served by the real API server,
  // are read on every clean run).
  'vm-import-preflight longhorn.io/nodes list': 'capacity-facts: a cluster running Longhorn',
  'vm-import-preflight longhorn.io/settings list': 'capacity-facts: a cluster running Longhorn',
  // Source power-on (functions/shared/source-power-on.ts): an import that fails, or is deleted,
  // after powering its source off (source-power-on.test.ts, seed-test-plan.test.ts).
  ...Object.fromEntries(
    ['export-status', 'image-status', 'images', 'vm', 'vm-status', 'cleanup'].flatMap((fn) =>
      [
        'migration.harvesterhci.io/vmwaresources get',
        'migration.harvesterhci.io/openstacksources get',
        'migration.harvesterhci.io/ovasources get',
        'core/secrets get',
        'migration.harvesterhci.io/virtualmachineimports list',
      ].map((t) => [
        `vm-import-${fn} ${t}`,
        'source-power-on: an import that powered its source off ends without its VM',
      ]),
    ),
  ),
  // Freeing a failed import's export (functions/shared/scratch.ts freeExport, called by
  // phase-function when a step fails the import): export-job-scratch-full.test.ts, the chaos rows.
  ...Object.fromEntries(
    ['export-status', 'image-status', 'images'].flatMap((fn) =>
      [
        'apps/deployments delete',
        'batch/jobs delete',
        'core/configmaps delete',
        'core/persistentvolumeclaims delete',
        'core/secrets delete',
        'core/services delete',
      ].map((t) => [`vm-import-${fn} ${t}`, 'freeExport: a step fails the import']),
    ),
  ),
  'vm-import-vm core/configmaps delete': 'freeExport: the vm step fails the import',
  'vm-import-cleanup batch/jobs get': 'cleanup: waits for the export Job before powering the source on',
  'vm-import-cleanup migration.harvesterhci.io/virtualmachineimports/status update':
    'cleanup: records SourcePoweredOn before letting go of the finalizer',
  'vm-import-exporter core/configmaps update': 'exporter: the Job is re-run after a crash',
  // Knative's ApiServerSource reconciler checks get, list and watch (SufficientPermissions,
  // pkg/reconciler/apiserversource runAccessCheck); its receive adapter then only watches: built
  // with client-go 0.35, whose WatchListClient gate is on by default
  // (k8s.io/client-go/features/known_features.go), its reflectors' initial list is a watch with
  // sendInitialEvents, not a list.
  ...Object.fromEntries(
    [
      'migration.harvesterhci.io/vmwaresources',
      'migration.harvesterhci.io/openstacksources',
      'migration.harvesterhci.io/ovasources',
      'migration.harvesterhci.io/virtualmachineimports',
      'batch/jobs',
      'apps/deployments',
      'harvesterhci.io/virtualmachineimages',
      'kubevirt.io/virtualmachines',
    ].flatMap((r) =>
      ['get', 'list'].map((verb) => [
        `vm-import-resources ${r} ${verb}`,
        'Knative ApiServerSource access check',
      ]),
    ),
  ),
};

/**
 * Grants an admission plugin checks on a request made with another verb, so no request of their
 * own shows them in the audit log: "<role> <group>/<resource> <verb>" → the check.
 */
const ADMISSION_CHECKS: Record<string, string> = {
  'vm-import-vm-status harvesterhci.io/virtualmachineimages delete':
    'OwnerReferencesPermissionEnforcement: vm-status changes the ownerReferences of images (update), which needs delete',
  'vm-import-export rbac.authorization.k8s.io/clusterroles bind':
    "RBAC's escalation check (pkg/registry/rbac/rolebinding/policybased/storage.go) on the exporter RoleBinding create",
};

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** One request of a service account, as kube-apiserver's audit log (Metadata level) has it. */
interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: {
    resource?: string;
    subresource?: string;
    apiGroup?: string;
    namespace?: string;
    name?: string;
  };
  annotations?: Record<string, string>;
}

/** The Role or ClusterRole named in RBAC's reason: `RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to ...`. */
function grantingRole(event: AuditEvent): string | undefined {
  return /of (?:Cluster)?Role "([^"]+)"/.exec(event.annotations?.['authorization.k8s.io/reason'] ?? '')?.[1];
}

function describeRequest(e: AuditEvent): string {
  const o = e.objectRef ?? {};
  return `${e.user.username} ${e.verb} ${o.apiGroup || 'core'}/${o.resource}${o.subresource ? `/${o.subresource}` : ''} ${o.namespace ?? ''}/${o.name ?? ''}`;
}

/** Every (role, group, resource, verb) our config grants. */
async function grantedTuples(): Promise<Set<string>> {
  const out = await import('execa').then(({ execa }) =>
    execa(cluster.kubectlBinary, ['kustomize', join(import.meta.dirname, '..', '..', 'config')]),
  );
  const tuples = new Set<string>();
  for (const doc of parseAllDocuments(out.stdout)) {
    const o = doc.toJS() as { kind?: string; metadata?: { name?: string }; rules?: Rule[] };
    if (o.kind !== 'ClusterRole' && o.kind !== 'Role') continue;
    for (const rule of o.rules ?? [])
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs)
            tuples.add(`${o.metadata?.name} ${group || 'core'}/${resource} ${verb}`);
  }
  return tuples;
}

let cluster: LocalCluster;
let stateDir: string;

describe('every granted permission is used, none is missing', () => {
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'vm-import-rbac-'));
    cluster = await startLocalCluster({ stateDir, imageRetryDelayMs: 500 });
  });
  after(async () => {
    await cluster?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  test('a VMware, an OpenStack and an OVA import run, one import in another namespace is deleted mid-export', async () => {
    await applyExampleSources(cluster);
    const examples = (await renderExample('imports.yaml', cluster.endpoints))
      .split(/^---$/m)
      .filter((d) => /name: (alpine-export-test|openstack-demo|appliance)\n/.test(d));
    // Tenancy (README "Security"): a source with credentials serves imports of its own namespace
    // only, and its Secret is never copied; the team in "imports" has its own source and Secret.
    const ownSource = (await renderExample('sources.yaml', cluster.endpoints))
      .split(/^---$/m)
      .filter((d) => /name: appliance(-ova-ca)?\n/.test(d))
      .map((d) => d.replace(/namespace: default/g, 'namespace: imports'))
      .join('---\n');
    const elsewhere = `---
apiVersion: v1
kind: Namespace
metadata: {name: imports}
---
${ownSource}
---
apiVersion: migration.harvesterhci.io/v1beta1
kind: VirtualMachineImport
metadata: {name: deleted-early, namespace: imports}
spec:
  virtualMachineName: appliance
  targetName: early-vm
  storageClass: harvester-longhorn
  networkMapping: [{sourceNetwork: VM Network, destinationNetwork: default/vlan1}]
  sourceCluster: {name: appliance, namespace: imports, kind: OvaSource, apiVersion: migration.harvesterhci.io/v1beta1}
`;
    await cluster.kubectl(['apply', '-f', '-'], examples.join('---\n') + elsewhere);
    // a resync tick while the imports are in flight, instead of waiting up to a minute for the schedule
    await sendResyncTick(cluster);
    // delete it once its export Job exists (cleanup removes the Job, scratch and credentials)
    const deadline = Date.now() + 300_000;
    while (!(await cluster.kube.find('batch/v1', 'Job', 'imports', exportJobName('deleted-early')))) {
      assert.ok(Date.now() < deadline, 'the export Job of deleted-early was not created');
      await new Promise((r) => setTimeout(r, 500));
    }
    await cluster.kubectl([
      'delete',
      '-n',
      'imports',
      'virtualmachineimport.migration/deleted-early',
      '--timeout=120s',
    ]);
    const statuses = await waitForImports(
      cluster,
      ['alpine-export-test', 'openstack-demo', 'appliance'],
      600_000,
    );
    for (const [name, s] of Object.entries(statuses))
      assert.equal(
        s.importStatus,
        'virtualMachineRunning',
        `${name}: ${JSON.stringify(s.importConditions?.at(-1))}`,
      );
  });

  test('no request of a service account was denied, and no grant went unused', async () => {
    const records = (await readFile(cluster.auditLogPath, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent)
      // vm-import's own accounts (its functions, Jobs and disk servers in any namespace), not
      // Knative's: its pods may start before the RBAC of the same install is applied, and retry.
      .filter(
        (e) =>
          e.user.username.startsWith('system:serviceaccount:') &&
          !e.user.username.startsWith(`system:serviceaccount:${KNATIVE_NAMESPACE}:`) &&
          e.objectRef?.resource,
      );
    const denied = records.filter((e) => e.annotations?.['authorization.k8s.io/decision'] === 'forbid');
    assert.deepEqual(denied.map(describeRequest), [], 'requests denied by RBAC');
    const used = new Set<string>();
    for (const e of records) {
      const role = grantingRole(e);
      if (!role) continue;
      const o = e.objectRef!;
      const resource = o.subresource ? `${o.resource}/${o.subresource}` : o.resource;
      used.add(`${role} ${o.apiGroup || 'core'}/${resource} ${e.verb}`);
    }
    const granted = await grantedTuples();
    const unused = [...granted]
      .filter((t) => !used.has(t) && !(t in FAILURE_PATHS_ONLY) && !(t in ADMISSION_CHECKS))
      .sort();
    for (const t of unused) console.log(`# unused grant: ${t}`);
    const exemptButUsed = Object.keys(FAILURE_PATHS_ONLY).filter((t) => used.has(t) || !granted.has(t));
    for (const t of exemptButUsed) console.log(`# listed as failure-path-only but used or not granted: ${t}`);
    console.log(`# ${records.length} audited requests, ${used.size} of ${granted.size} grants used`);
    assert.deepEqual(unused, [], 'granted but never used');
    assert.deepEqual(
      exemptButUsed.filter((t) => !granted.has(t)),
      [],
      'failure-path exemptions that are not granted',
    );
  });
});
