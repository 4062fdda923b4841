// Pure logic of the local cluster runtime: ApiServerSource event format, trigger filters,
// delivery backoff, cron, Job status, container translation, DNS names, fault plans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiServerSubject,
  guessPlural,
  makeApiServerEvent,
} from '../../../local-cluster/runtime/knative/apiserver-events.ts';
import { addressPlan, PodAddressPool } from '../../../local-cluster/runtime/network/addresses.ts';
import { corefile, kubeProxyConfig } from '../../../local-cluster/runtime/network/node-network.ts';
import { clusterFirstResolvConf } from '../../../local-cluster/runtime/node-agent/pod-files.ts';
import { FaultInjector } from '../../../local-cluster/runtime/serving/faults.ts';
import { labelSelectorString } from '../../../local-cluster/runtime/network/label-selector.ts';

test('ApiServerSource subject and plural follow Kubernetes UnsafeGuessKindToResource', () => {
  assert.equal(guessPlural('VirtualMachineImport'), 'virtualmachineimports');
  assert.equal(guessPlural('VmwareSource'), 'vmwaresources');
  assert.equal(guessPlural('NetworkPolicy'), 'networkpolicies');
  assert.equal(guessPlural('Endpoints'), 'endpoints');
  assert.equal(
    apiServerSubject({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'ns' } }),
    '/apis/batch/v1/namespaces/ns/jobs/j',
  );
  // Upstream uses /apis/ for the core group as well.
  assert.equal(
    apiServerSubject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } }),
    '/apis/v1/namespaces/ns/pods/p',
  );
  const obj = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'vm', namespace: 'd' },
  };
  const e = makeApiServerEvent('https://127.0.0.1:6443', 'delete', obj, new Date('2024-01-02T03:04:05Z'));
  assert.equal(e.type, 'dev.knative.apiserver.resource.delete');
  assert.equal(e.source, 'https://127.0.0.1:6443');
  assert.equal(e.time, '2024-01-02T03:04:05.000Z');
  assert.deepEqual(
    [e.kind, e.name, e.namespace, e.apiversion],
    ['VirtualMachine', 'vm', 'd', 'kubevirt.io/v1'],
  );
  assert.deepEqual(e.data, obj);
});

test('the pod network address plan: pods, the host link and Services never overlap', () => {
  const plan = addressPlan({ block: 40 });
  assert.equal(plan.podCidr, '10.40.0.0/20');
  assert.equal(plan.gateway, '10.40.0.1');
  assert.equal(plan.hostAddress, '10.40.255.1');
  assert.equal(plan.nodeAddress, '10.40.255.2');
  assert.equal(plan.serviceCidr, '10.41.0.0/16');
  assert.equal(plan.apiServiceIp, '10.41.0.1');
  assert.equal(plan.dnsServiceIp, '10.41.0.10');
  const pool = new PodAddressPool(plan);
  const a = pool.allocate();
  const b = pool.allocate();
  assert.deepEqual(a, { ip: '10.40.0.2', index: 2 });
  assert.notEqual(a.ip, b.ip);
  // Round-robin, as host-local IPAM: a released address is not handed out again at once.
  pool.release(a.index);
  assert.deepEqual(pool.allocate(), { ip: '10.40.0.4', index: 4 });
  for (let i = 0; i < 300; i++) pool.allocate();
  assert.match(pool.allocate().ip, /^10\.40\.1\.\d+$/);
  // Once the range is used up, the search wraps around to the released ones.
  for (let i = 0; i < 16 * 256 - 2 - 305; i++) pool.allocate(); // all but the released 10.40.0.2
  assert.deepEqual(pool.allocate(), a);
  assert.throws(() => pool.allocate(), /exhausted/);
});

test('pods resolve through kube-dns (ClusterFirst); CoreDNS and kube-proxy are configured for this node', () => {
  const plan = addressPlan({ block: 40 });
  assert.equal(
    clusterFirstResolvConf('ns1', plan.dnsServiceIp),
    'search ns1.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.41.0.10\noptions ndots:5\n',
  );
  const dns = corefile(plan, '/k/coredns.kubeconfig');
  assert.match(dns, /bind 10\.40\.255\.2/);
  assert.match(
    dns,
    /kubernetes cluster\.local in-addr\.arpa ip6\.arpa \{\n\s+kubeconfig \/k\/coredns\.kubeconfig local/,
  );
  const proxy = kubeProxyConfig(plan, 'node-1', '/k/proxy.kubeconfig');
  assert.match(proxy, /mode: nftables/);
  assert.match(proxy, /clusterCIDR: 10\.40\.0\.0\/20/);
  assert.match(proxy, /maxPerCore: 0/);
});

test('label selectors and fault plans', () => {
  assert.equal(
    labelSelectorString({
      matchLabels: { a: 'b' },
      matchExpressions: [
        { key: 'x', operator: 'Exists' },
        { key: 'y', operator: 'NotIn', values: ['1', '2'] },
      ],
    }),
    'a=b,x,y notin (1,2)',
  );
  const f = new FaultInjector({ duplicate: 1, failFirstAttempts: 2, reorderWindowMs: 100, seed: 3 });
  const p = f.plan();
  assert.equal(p.copies, 2);
  assert.equal(p.failFirstAttempts, 2);
  assert.ok(p.holdMs >= 0 && p.holdMs < 100);
  assert.equal(new FaultInjector().plan().copies, 1);
});
