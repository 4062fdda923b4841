// NetworkPolicy (networking.k8s.io/v1) as nftables rules for the cluster's network namespace,
// for the policy semantics of the Kubernetes API reference and the NetworkPolicy concept page:
//  - a pod is isolated for ingress (egress) once a policy of its namespace selects it with that
//    policy type (policyTypes defaults to Ingress, plus Egress when the policy has egress rules);
//  - an isolated pod accepts what at least one of those policies allows (rules are additive);
//    a rule's peers are ORed, its ports are ORed, peers AND ports; an empty `from`/`to` is every
//    peer, empty `ports` every port; a named port is the pod's container port of that name;
//  - traffic to and from the node is always allowed, and so is reply traffic;
//  - both ends apply: the source's egress and the destination's ingress.
// kube-network-policies (the upstream implementation) needs the nft `queue` verdict, which these
// machines' kernels lack (probed: "add rule ... queue num 98" → No such file or directory), so the
// local cluster enforces the same semantics with plain nftables rules.
import { matchesLabelSelector, type LabelSelector } from './label-selector.ts';

export const POLICY_TABLE = 'vmi-network-policies';

export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface PolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes?: ('Ingress' | 'Egress')[];
  ingress?: { from?: PolicyPeer[]; ports?: PolicyPort[] }[];
  egress?: { to?: PolicyPeer[]; ports?: PolicyPort[] }[];
}

export interface PolicyInput {
  policies: { namespace: string; name: string; spec: NetworkPolicySpec }[];
  pods: {
    namespace: string;
    name: string;
    ip: string;
    labels: Record<string, string>;
    ports: { name?: string; containerPort: number; protocol?: string }[];
  }[];
  namespaces: { name: string; labels: Record<string, string> }[];
  /** The node's own addresses: always allowed. */
  nodeAddresses: string[];
}

type Pod = PolicyInput['pods'][number];
type Direction = 'ingress' | 'egress';

function policyTypes(spec: NetworkPolicySpec): Direction[] {
  const types = spec.policyTypes ?? (spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress']);
  return types.map((t) => (t === 'Ingress' ? 'ingress' : 'egress'));
}

/** The addresses a peer stands for, as nft set elements and the exceptions to subtract. */
function peerAddresses(
  peer: PolicyPeer,
  policyNamespace: string,
  input: PolicyInput,
): { addresses: string[]; except: string[]; pods: Pod[] } {
  if (peer.ipBlock) return { addresses: [peer.ipBlock.cidr], except: peer.ipBlock.except ?? [], pods: [] };
  const nsLabels = new Map(input.namespaces.map((n) => [n.name, n.labels]));
  const pods = input.pods.filter((p) => {
    const inNamespace = peer.namespaceSelector
      ? matchesLabelSelector(peer.namespaceSelector, nsLabels.get(p.namespace) ?? {})
      : p.namespace === policyNamespace;
    return inNamespace && (!peer.podSelector || matchesLabelSelector(peer.podSelector, p.labels));
  });
  return { addresses: pods.map((p) => p.ip), except: [], pods };
}

/** nft matches for a port list against the pod that owns named ports; [] when none resolves. */
function portMatches(ports: PolicyPort[] | undefined, owner: Pod | undefined): string[] {
  if (!ports?.length) return [''];
  const out: string[] = [];
  for (const p of ports) {
    const proto = (p.protocol ?? 'TCP').toLowerCase();
    if (p.port === undefined) {
      out.push(`meta l4proto ${proto}`);
      continue;
    }
    let port: number | undefined;
    if (typeof p.port === 'number') port = p.port;
    else
      port = owner?.ports.find(
        (c) => c.name === p.port && (c.protocol ?? 'TCP').toLowerCase() === proto,
      )?.containerPort;
    if (port === undefined) continue; // a named port the pod does not have matches nothing
    const range = p.endPort && typeof p.port === 'number' ? `${port}-${p.endPort}` : `${port}`;
    out.push(`meta l4proto ${proto} th dport ${range}`);
  }
  return out;
}

const set = (xs: string[]) => (xs.length === 1 ? xs[0]! : `{ ${xs.join(', ')} }`);

/** The allow rules of one pod in one direction, or undefined when it is not isolated that way. */
function allowRules(pod: Pod, direction: Direction, input: PolicyInput): string[] | undefined {
  const selecting = input.policies.filter(
    (p) =>
      p.namespace === pod.namespace &&
      policyTypes(p.spec).includes(direction) &&
      matchesLabelSelector(p.spec.podSelector, pod.labels),
  );
  if (!selecting.length) return undefined;
  const peerField = direction === 'ingress' ? 'saddr' : 'daddr';
  const rules: string[] = [];
  for (const policy of selecting) {
    const policyRules =
      direction === 'ingress'
        ? (policy.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))
        : (policy.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
    for (const rule of policyRules) {
      if (!rule.peers?.length) {
        // every peer; named ports resolve against this pod (ingress) or cannot (egress)
        for (const m of portMatches(rule.ports, direction === 'ingress' ? pod : undefined))
          rules.push(`${m} return`.trim());
        continue;
      }
      for (const peer of rule.peers) {
        const { addresses, except, pods } = peerAddresses(peer, policy.namespace, input);
        if (!addresses.length) continue;
        const exceptMatch = except.length ? ` ip ${peerField} != ${set(except)}` : '';
        if (direction === 'egress' && rule.ports?.some((p) => typeof p.port === 'string')) {
          // an egress named port is each destination pod's own
          for (const dest of pods)
            for (const m of portMatches(rule.ports, dest))
              rules.push(`ip daddr ${dest.ip} ${m} return`.trim());
          continue;
        }
        for (const m of portMatches(rule.ports, direction === 'ingress' ? pod : undefined))
          rules.push(
            `ip ${peerField} ${set(addresses)}${exceptMatch} ${m} return`.replace(/\s+/g, ' ').trim(),
          );
      }
    }
  }
  return rules;
}

/** The whole table, replaced in one nft transaction. */
export function renderPolicyTable(input: PolicyInput): string {
  const chains: string[] = [];
  const selfAllowed: string[] = [];
  const jumps: string[] = [];
  const pods = [...input.pods].sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
  pods.forEach((pod, i) => {
    for (const direction of ['ingress', 'egress'] as const) {
      const rules = allowRules(pod, direction, input);
      if (!rules) continue;
      const chain = `${direction}-${i}`;
      chains.push(
        `  chain ${chain} {\n    # ${pod.namespace}/${pod.name}\n${rules.map((r) => `    ${r}\n`).join('')}    drop\n  }`,
      );
      jumps.push(`    ip ${direction === 'ingress' ? 'daddr' : 'saddr'} ${pod.ip} jump ${chain}`);
      // a pod cannot block traffic to itself (a Service that hairpins back to it)
      if (!selfAllowed.some((l) => l.includes(` ${pod.ip} `)))
        selfAllowed.push(`    ip saddr ${pod.ip} ip daddr ${pod.ip} accept`);
    }
  });
  const node = set(input.nodeAddresses);
  return [
    `table inet ${POLICY_TABLE} {}`,
    `delete table inet ${POLICY_TABLE}`,
    `table inet ${POLICY_TABLE} {`,
    ...chains,
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    ct state established,related accept',
    `    ip saddr ${node} accept`,
    `    ip daddr ${node} accept`,
    ...selfAllowed,
    ...jumps,
    '  }',
    '}',
    '',
  ].join('\n');
}
