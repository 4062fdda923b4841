// The network path from the pods to a simulated source, shaped and cut in the kernel as a WAN link
// or a firewall would: every pod reaches the host's address through one veth (the cluster's host
// link), so a tc class on that veth's egress limits what a source sends to the pods, and an
// nftables rule on its ingress drops what the pods send to a source's port (packets vanish: the
// client sees no reset, only silence, as behind a firewall that drops).
import { execa } from 'execa';
import type { LocalCluster } from '../../local-cluster/cluster.ts';
import { CHAOS_SOURCES, type ChaosSource } from './fault.ts';

export interface SourceLink {
  /** The TCP port of a source's simulator (every API and download of that source). */
  port(source: ChaosSource): number;
  /** Limits what each source sends to the pods (MiB/s per source). */
  shape(mibPerSecond: Record<ChaosSource, number>): Promise<void>;
  /** Drops every packet from the pods to the source's port until the returned function runs. */
  drop(source: ChaosSource): Promise<() => Promise<void>>;
  /** Removes the shaping and every drop rule. */
  clear(): Promise<void>;
}

function portOf(url: string | undefined, source: ChaosSource): number {
  if (!url) throw new Error(`the local cluster runs no ${source} simulator`);
  const u = new URL(url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}

export function sourceLink(cluster: LocalCluster): SourceLink {
  const dev = cluster.network.hostLink;
  const e = cluster.endpoints;
  const ports: Record<ChaosSource, number> = {
    vmware: portOf(e.vmware?.hostUrl, 'vmware'),
    openstack: portOf(e.openstack?.hostUrl, 'openstack'),
    ova: portOf(e.ova?.hostUrl, 'ova'),
  };
  const tc = (...args: string[]) => execa('tc', args);
  // One table per cluster (its host link), so that two clusters on one machine never meet.
  const NFT_TABLE = `vmi_chaos_${dev}`;
  const nft = (script: string) => execa('nft', ['-f', '-'], { input: script });

  return {
    port: (source) => ports[source],
    async shape(mibPerSecond) {
      const kbit = (mib: number) => `${Math.round(mib * 8 * 1.048576 * 1000)}kbit`;
      await tc('qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '99');
      await tc('class', 'replace', 'dev', dev, 'parent', '1:', 'classid', '1:99', 'htb', 'rate', '10gbit');
      for (const [i, source] of CHAOS_SOURCES.entries()) {
        const classid = `1:${10 + i}`;
        const rate = kbit(mibPerSecond[source]);
        await tc(
          'class',
          'replace',
          'dev',
          dev,
          'parent',
          '1:',
          'classid',
          classid,
          'htb',
          'rate',
          rate,
          'ceil',
          rate,
        );
        // u32 on the source port: what the source's simulator sends back to the pods.
        const match = ['u32', 'match', 'ip', 'sport', String(ports[source]), '0xffff'];
        await tc(
          'filter',
          'replace',
          'dev',
          dev,
          'parent',
          '1:',
          'protocol',
          'ip',
          'prio',
          '1',
          'handle',
          `800::${10 + i}`,
          ...match,
          'flowid',
          classid,
        );
      }
    },
    async drop(source) {
      const port = ports[source];
      await nft(
        [
          `table inet ${NFT_TABLE} {`,
          '  chain input { type filter hook input priority -10; policy accept; }',
          '}',
          `add rule inet ${NFT_TABLE} input iifname "${dev}" tcp dport ${port} drop comment "chaos-${source}"`,
        ].join('\n'),
      );
      return async () => {
        const { stdout } = await execa('nft', ['-a', 'list', 'chain', 'inet', NFT_TABLE, 'input']);
        const handle = new RegExp(`comment "chaos-${source}" # handle (\\d+)`).exec(stdout)?.[1];
        if (handle) await execa('nft', ['delete', 'rule', 'inet', NFT_TABLE, 'input', 'handle', handle]);
      };
    },
    async clear() {
      await tc('qdisc', 'del', 'dev', dev, 'root').catch(() => undefined);
      await execa('nft', ['delete', 'table', 'inet', NFT_TABLE]).catch(() => undefined);
    },
  };
}
