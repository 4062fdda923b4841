import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPolicyTable, type PolicyInput } from '../../../local-cluster/runtime/network/policy-rules.ts';

const base = (): PolicyInput => ({
  policies: [],
  namespaces: [
    { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } },
    { name: 'longhorn-system', labels: { 'kubernetes.io/metadata.name': 'longhorn-system' } },
  ],
  pods: [
    {
      namespace: 'default',
      name: 'disks',
      ip: '10.40.0.5',
      labels: { app: 'disks' },
      ports: [{ name: 'http', containerPort: 8080 }],
    },
    {
      namespace: 'default',
      name: 'importer',
      ip: '10.40.0.6',
      labels: { app: 'containerized-data-importer', 'cdi.kubevirt.io': 'importer' },
      ports: [],
    },
    {
      namespace: 'longhorn-system',
      name: 'backing-image-ds-x',
      ip: '10.40.0.7',
      labels: { 'longhorn.io/component': 'backing-image-data-source' },
      ports: [],
    },
    { namespace: 'default', name: 'other', ip: '10.40.0.8', labels: { app: 'other' }, ports: [] },
  ],
  nodeAddresses: ['10.40.255.1', '10.40.255.2'],
});

/** The disk server's own policy (functions/shared/disk-server/workload.ts). */
const diskServerPolicy: PolicyInput['policies'][number] = {
  namespace: 'default',
  name: 'disks',
  spec: {
    podSelector: { matchLabels: { app: 'disks' } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'longhorn-system' } },
            podSelector: { matchLabels: { 'longhorn.io/component': 'backing-image-data-source' } },
          },
          {
            podSelector: {
              matchLabels: { app: 'containerized-data-importer', 'cdi.kubevirt.io': 'importer' },
            },
          },
        ],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ],
  },
};

test('no policy: no pod is isolated, the table only accepts', () => {
  const nft = renderPolicyTable(base());
  assert.doesNotMatch(nft, /jump/);
  assert.match(nft, /^table inet vmi-network-policies \{\}\ndelete table inet vmi-network-policies\n/);
  assert.match(nft, /policy accept;/);
});

test("the disk server's policy admits Longhorn's data source and CDI's importer on 8080, and nothing else", () => {
  const input = base();
  input.policies.push(diskServerPolicy);
  const nft = renderPolicyTable(input);
  assert.match(nft, /ip daddr 10\.40\.0\.5 jump ingress-0/);
  const chain = /chain ingress-0 \{\n([\s\S]*?)\n  \}/.exec(nft)![1]!;
  assert.match(chain, /ip saddr 10\.40\.0\.7 meta l4proto tcp th dport 8080 return/);
  assert.match(chain, /ip saddr 10\.40\.0\.6 meta l4proto tcp th dport 8080 return/);
  assert.doesNotMatch(chain, /10\.40\.0\.8/);
  assert.match(chain, /\n    drop$/);
  // the other pods are not isolated; the node is always allowed, and reply traffic
  assert.doesNotMatch(nft, /ip daddr 10\.40\.0\.(6|7|8) jump/);
  assert.match(nft, /ct state established,related accept/);
  assert.match(nft, /ip saddr \{ 10\.40\.255\.1, 10\.40\.255\.2 \} accept/);
});

test('named ports, port ranges, ipBlock with except, egress, and a namespaceSelector alone', () => {
  const input = base();
  input.policies.push({
    namespace: 'default',
    name: 'mixed',
    spec: {
      podSelector: { matchLabels: { app: 'disks' } },
      ingress: [
        { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.40.0.8/32'] } }], ports: [{ port: 'http' }] },
        { from: [{ namespaceSelector: {} }], ports: [{ protocol: 'UDP', port: 5000, endPort: 5010 }] },
      ],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'other' } } }] }],
    },
  });
  const nft = renderPolicyTable(input);
  assert.match(
    nft,
    /ip saddr 10\.0\.0\.0\/8 ip saddr != 10\.40\.0\.8\/32 meta l4proto tcp th dport 8080 return/,
  );
  // every pod of every namespace, UDP 5000-5010
  assert.match(nft, /ip saddr \{ [\d., ]+ \} meta l4proto udp th dport 5000-5010 return/);
  assert.match(nft, /ip saddr 10\.40\.0\.5 jump egress-0/);
  assert.match(nft, /chain egress-0 \{\n    # default\/disks\n    ip daddr 10\.40\.0\.8 return\n    drop/);
  // a pod never blocks itself
  assert.match(nft, /ip saddr 10\.40\.0\.5 ip daddr 10\.40\.0\.5 accept/);
});

test('a policy that selects a pod with no ingress rules denies all ingress; a named port the pod lacks allows nothing', () => {
  const input = base();
  input.policies.push(
    { namespace: 'default', name: 'deny', spec: { podSelector: { matchLabels: { app: 'other' } } } },
    {
      namespace: 'default',
      name: 'named',
      spec: { podSelector: { matchLabels: { app: 'other' } }, ingress: [{ ports: [{ port: 'metrics' }] }] },
    },
  );
  const nft = renderPolicyTable(input);
  assert.match(nft, /chain ingress-\d+ \{\n    # default\/other\n    drop\n  \}/);
});
