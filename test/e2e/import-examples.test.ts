// The seed examples end to end on the local cluster, driven with kubectl: sources become
// clusterReady, three imports (VMware 2 disks + 2 NICs, OpenStack by name, OVA) and a fourth of the
// OpenStack server by UUID run concurrently to virtualMachineRunning, images are byte-identical to
// the source disks, and each VM has the source's CPU, memory, MACs, firmware, disk order and buses;
// the export Job's and a function's logs read with `kubectl logs`, as users read them; Knative's
// own metrics count every delivery: 2xx answers only, nothing dead-lettered.
import { harvesterBehaviour } from '../../local-cluster/runtime/harvester/versions.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { renderExample } from '../../local-cluster/examples.ts';
import { loadInventory } from '../../local-cluster/simulators/inventory.ts';
import { applyExampleSources, sameDisk, waitForImports } from '../support/e2e.ts';
import { importObjectNames } from '../../functions/shared/import-objects.ts';
import { BROKER, knativeServiceName, NAMESPACE, type FunctionName } from '../../events/routing.ts';
import { brokerDeliveries } from '../../local-cluster/runtime/knative/delivery-metrics.ts';
import { EVENT_PROBE_IMAGE } from '../../local-cluster/runtime/node-agent/images.ts';

let cluster: LocalCluster;
let stateDir: string;

/** The functions every clean import passes through (one phase transition each, at least). */
const CLEAN_IMPORT_FUNCTIONS: FunctionName[] = [
  'preflight',
  'export',
  'export-status',
  'images',
  'image-status',
  'vm',
  'vm-status',
];
const CONTROL_TRIGGER = 'control-answers-500';

/** A trigger on the same broker whose subscriber answers 500, dead-lettered to a probe of its own. */
function controlTrigger(): string {
  const probe = (name: string, env: string) => `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: ${name}, namespace: ${NAMESPACE}}
spec:
  template:
    spec:
      containers:
        - name: function
          image: ${EVENT_PROBE_IMAGE}
          ports: [{containerPort: 8080}]
          env: [${env}]
---
`;
  return `${probe('control-500', '{name: PROBE_STATUS, value: "500"}')}${probe('control-dead-letter', '')}apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: ${CONTROL_TRIGGER}, namespace: ${NAMESPACE}}
spec:
  broker: ${BROKER}
  filter: {attributes: {type: dev.knative.apiserver.resource.add, kind: VirtualMachineImport}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: control-500}}
  delivery:
    retry: 1
    deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: control-dead-letter}}
`;
}

/** `kubectl logs --follow` of a Job, retried until its pod has started; resolves to the log. */
async function followJobLogs(c: LocalCluster, job: string, timeoutMs = 300_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const log = await c.kubectl(['logs', '--follow', '-n', 'default', `job/${job}`]);
      // The API server answers an empty log, successfully, for a pod not yet bound to a node
      // (pkg/registry/core/pod/strategy.go LogLocation): kubectl may pick the Job's pod that early.
      if (log.trim()) return log;
      last = 'an empty log (the pod was not scheduled yet)';
      await new Promise((r) => setTimeout(r, 500));
    } catch (err) {
      last = String(err); // not created yet, or its pod is still ContainerCreating
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`kubectl logs --follow job/${job} never answered: ${last}`);
}

describe('seed examples end to end on the local cluster', () => {
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'vm-import-e2e-'));
    cluster = await startLocalCluster({ stateDir, imageRetryDelayMs: 3000 });
    await cluster.kubectl(['apply', '-f', '-'], controlTrigger());
    // Knative subscribes a trigger once its subscriber has an address: before, no event reaches it.
    await cluster.kubectl([
      'wait',
      '--for=condition=Ready',
      `trigger/${CONTROL_TRIGGER}`,
      '-n',
      NAMESPACE,
      '--timeout=300s',
    ]);
  });
  after(async () => {
    await cluster?.stop();
    // KEEP_E2E_STATE=1 keeps the cluster's state and logs for a post-mortem.
    if (stateDir && !process.env.KEEP_E2E_STATE) await rm(stateDir, { recursive: true, force: true });
    else if (stateDir) console.log(`# local cluster state and logs kept in ${stateDir}`);
  });

  test('the example sources become clusterReady', async () => {
    await applyExampleSources(cluster);
    const out = await cluster.kubectl(['get', 'vmwaresource.migration']);
    assert.match(out, /vcsim\s+clusterReady/);
  });

  test('four imports applied at once: the three of distinct sources and one copy of the twice-imported server reach virtualMachineRunning with identical disks', async () => {
    const inventory = await loadInventory();
    const server = inventory.openstack!.servers[0]!;
    const byUuid = `---
apiVersion: migration.harvesterhci.io/v1beta1
kind: VirtualMachineImport
metadata: {name: openstack-by-uuid, namespace: default}
spec:
  virtualMachineName: "${server.id}"
  sourceCluster: {name: devstack, namespace: default, kind: OpenstackSource, apiVersion: migration.harvesterhci.io/v1beta1}
`;
    const started = Date.now();
    await cluster.kubectl(
      ['apply', '-f', '-'],
      (await renderExample('imports.yaml', cluster.endpoints)) + byUuid,
    );
    // As a user watches an export: `kubectl logs --follow job/<export Job>` streams the exporter's
    // log from the node agent's kubelet API until the container ends.
    const followed = followJobLogs(cluster, importObjectNames('openstack-demo').exportJob);
    const names = ['alpine-export-test', 'openstack-demo', 'appliance', 'openstack-by-uuid'];
    const statuses = await waitForImports(cluster, names, 600_000);
    // The stream ends with the container; the pod kubectl picked may be an attempt the Job
    // retried, so this checks the exporter's own lines, not how that attempt ended.
    const jobLog = await followed;
    assert.match(jobLog, /"component":"exporter","import":"default\/openstack-demo"/);
    // and a function's log, by its label, as the README tells users to read them
    const vmFunctionLog = await cluster.kubectl([
      'logs',
      '-n',
      'vm-import-system',
      '-l',
      'functions.vm-import.harvesterhci.io/name=vm',
      '--tail=-1',
    ]);
    assert.match(vmFunctionLog, /"function":"vm"/);
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `# 4 concurrent imports: ${seconds.toFixed(1)} s from kubectl apply to virtualMachineRunning`,
    );
    // openstack-demo is imported twice (by name and by UUID). Each copy keeps the server's MAC
    // addresses, and Harvester ≥ 1.5 refuses a second VM with them: the copy whose VM comes
    // second fails saying so; the other runs. Older releases run both.
    const copies = ['openstack-demo', 'openstack-by-uuid'];
    const running = names.filter((n) => statuses[n]!.importStatus === 'virtualMachineRunning');
    assert.deepEqual(
      names.filter((n) => !copies.includes(n) && !running.includes(n)),
      [],
      'every import of a distinct source runs',
    );
    if (harvesterBehaviour(cluster.harvesterVersion).duplicateMacCheck) {
      assert.equal(copies.filter((n) => running.includes(n)).length, 1, 'one copy of openstack-demo runs');
      const refused = copies.find((n) => !running.includes(n))!;
      assert.equal(statuses[refused]!.importStatus, 'VMMigrationFailed', refused);
      const created = statuses[refused]!.importConditions?.find((c) => c.type === 'VirtualMachineCreated');
      assert.equal(created?.reason, 'DuplicateMacAddress', created?.message ?? '');
    } else assert.deepEqual(running.sort(), [...names].sort(), 'all four run');

    // the UUID resolves to the server's name; every VM that exists has a name of its own (a copy
    // refused for its MACs may have chosen the same name before the other's VM existed: it never
    // created one)
    const vmNames = running.map((n) => statuses[n]!.importedVirtualMachineName);
    assert.equal(new Set(vmNames).size, running.length, `distinct VM names: ${vmNames.join(', ')}`);
    assert.match(statuses['openstack-by-uuid']!.importedVirtualMachineName!, /^openstack-demo/);

    const table = await cluster.kubectl(['get', 'virtualmachineimport.migration']);
    assert.match(table, /alpine-export-test\s+virtualMachineRunning\s+100\s+vcsim\s+alpine-export-test/);

    // every imported image is byte-identical to its source disk
    const sources: Record<string, string> = {
      'alpine-export-test': 'vmware/alpine-export-test',
      'openstack-demo': 'openstack/openstack-demo',
      'openstack-by-uuid': 'openstack/openstack-demo',
      appliance: 'ova/appliance',
    };
    for (const name of names) {
      const disks = statuses[name]!.diskImportStatus ?? [];
      assert.ok(disks.length > 0, `${name} has disks`);
      for (const [i, disk] of disks.entries()) {
        const image = join(stateDir, 'harvester', 'images', 'default', `${disk.VirtualMachineImage}.raw`);
        const source = join(stateDir, 'sources', sources[name]!, `disk-${i}.raw`);
        assert.ok(await sameDisk(image, source), `${name} disk ${i} identical to ${source}`);
      }
    }

    // the VM has the source's CPU, memory, MACs, firmware, disk order and buses
    const vm = (await cluster.kube.find(
      'kubevirt.io/v1',
      'VirtualMachine',
      'default',
      'alpine-export-test',
    )) as any;
    const domain = vm.spec.template.spec.domain;
    const alpine = inventory.vmware!.vms[0]!;
    assert.deepEqual(domain.cpu, {
      sockets: alpine.cpus / alpine.coresPerSocket,
      cores: alpine.coresPerSocket,
      threads: 1,
    });
    assert.equal(domain.memory.guest, `${alpine.memoryMiB}Mi`);
    assert.deepEqual(
      domain.devices.disks.map((d: any) => [d.name, d.disk.bus, d.bootOrder]),
      [
        ['disk-0', 'scsi', 1],
        ['disk-1', 'sata', 2],
      ],
    );
    const macs = domain.devices.interfaces.map((i: any) => i.macAddress).sort();
    assert.deepEqual(macs, alpine.nics.map((n) => n.mac).sort());
    const openstack = (await cluster.kube.find(
      'kubevirt.io/v1',
      'VirtualMachine',
      'default',
      statuses[copies.find((n) => running.includes(n))!]!.importedVirtualMachineName!,
    )) as any;
    assert.ok(openstack.spec.template.spec.domain.firmware?.bootloader?.efi, 'hw_firmware_type=uefi → EFI');
    assert.equal(openstack.spec.template.spec.domain.memory.guest, `${server.flavor.ramMiB}Mi`);
    const vmi = await cluster.kube.find(
      'kubevirt.io/v1',
      'VirtualMachineInstance',
      'default',
      'alpine-export-test',
    );
    assert.ok(vmi, 'KubeVirt started the VM');

    // scratch and disk servers are gone; images no longer owned by the import
    const left = await cluster.kubectl([
      'get',
      'jobs,deployments,pvc',
      '-l',
      // the refused copy keeps its scratch until it is deleted, like every failed import
      `migration.harvesterhci.io/import-name in (${running.join(',')})`,
      '-o',
      'name',
    ]);
    const leftovers = left.split('\n').filter((n) => /^job|^deployment|-scratch$/.test(n));
    assert.deepEqual(leftovers, [], 'export Jobs, disk servers and scratch volumes are gone');
    const img = await cluster.kube.find(
      'harvesterhci.io/v1beta1',
      'VirtualMachineImage',
      'default',
      statuses.appliance!.diskImportStatus![0]!.VirtualMachineImage!,
    );
    assert.equal(img?.metadata?.ownerReferences?.length ?? 0, 0);

    // Counted from Knative's own metrics (the broker filter's HTTP client): every phase function
    // answered Knative's deliveries with a 2xx, none answered anything else, and nothing went to the
    // dead letter sink. The control trigger, whose subscriber answers 500, shows the count is real.
    const { attempts, deadLettered } = await brokerDeliveries(cluster.kube);
    console.log(`# Knative deliveries: ${JSON.stringify({ attempts, deadLettered })}`);
    const ours = attempts.filter((a) => a.trigger.startsWith(`${NAMESPACE}/vm-import-`));
    const host = (fn: FunctionName) => `${knativeServiceName(fn)}.${NAMESPACE}.svc.cluster.local`;
    for (const fn of CLEAN_IMPORT_FUNCTIONS)
      assert.ok(
        ours.some((a) => a.destination === host(fn) && /^2\d\d$/.test(a.status) && a.count > 0),
        `Knative delivered to ${fn} with a 2xx answer`,
      );
    // An answer other than a 2xx is the function's doing; no answer at all within the delivery
    // timeout (status "none") is an overloaded machine's, and is reported, not hidden.
    const unanswered = ours.filter((a) => a.status === 'none');
    const failed = ours.filter((a) => a.status !== 'none' && !/^2\d\d$/.test(a.status));
    assert.deepEqual(failed, [], 'no delivery to a function was answered with anything but a 2xx');
    const ourDeadLetters = deadLettered.filter((d) => d.destination === host('dead-letter'));
    if (unanswered.length)
      console.log(
        `# ${unanswered.length} triggers had deliveries that got no answer within the timeout (machine overloaded); dead-lettered: ${JSON.stringify(ourDeadLetters)}`,
      );
    else assert.deepEqual(ourDeadLetters, [], 'a clean import dead-letters nothing');
    const control = attempts.filter((a) => a.trigger === `${NAMESPACE}/${CONTROL_TRIGGER}`);
    assert.ok(
      control.some((a) => a.status === '500' && a.count > 0),
      `the control trigger's 500 answers are counted: ${JSON.stringify(control)}`,
    );
    assert.ok(
      deadLettered.some((d) => d.destination.startsWith('control-dead-letter.') && d.count > 0),
      `the control trigger's dead-lettered events are counted: ${JSON.stringify(deadLettered)}`,
    );
  });
});
