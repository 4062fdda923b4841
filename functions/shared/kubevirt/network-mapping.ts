// Source NICs → KubeVirt interfaces and networks (upstream's pkg/source/network.go), with one
// correction: NICs on unmapped networks are not dropped (upstream dropped them silently). KubeVirt allows a single pod network, so the first
// unmapped NIC goes there (masquerade) and any further ones are returned in `unmapped` for the
// caller to report in a condition.
import type { NicModel, SourceNic } from '../sources/types.ts';
import type { NetworkMapping, VirtualMachineImportSpec } from '../api/index.ts';

export const POD_NETWORK_NAME = 'pod-network';
const DEFAULT_NIC_MODEL: NicModel = 'virtio';

export interface KubevirtInterface {
  name: string;
  model: NicModel;
  macAddress?: string;
  bridge?: Record<string, never>;
  masquerade?: Record<string, never>;
}

export interface KubevirtNetwork {
  name: string;
  pod?: Record<string, never>;
  multus?: { networkName: string };
}

export interface NetworkLayout {
  /** spec.template.spec.domain.devices.interfaces, in source NIC order. */
  interfaces: KubevirtInterface[];
  /** spec.template.spec.networks, same order and names as the interfaces. */
  networks: KubevirtNetwork[];
  /** Unmapped NICs that could not be attached because the pod network was already used. */
  unmapped: SourceNic[];
}

/** `<nad>` means the NetworkAttachmentDefinition in the import's namespace. */
export function multusNetworkName(destinationNetwork: string, importNamespace: string): string {
  return destinationNetwork.includes('/') ? destinationNetwork : `${importNamespace}/${destinationNetwork}`;
}

/** Name of the KubeVirt interface/network for source NIC `index` on a Multus network. */
export function nicName(index: number): string {
  return `nic-${index}`;
}

/** First mapping whose sourceNetwork equals the NIC's network exactly and has a destination. */
export function findMapping(nic: SourceNic, mappings: readonly NetworkMapping[]): NetworkMapping | undefined {
  return mappings.find((m) => m.sourceNetwork === nic.network && !!m.destinationNetwork);
}

export function mapNetworks(
  nics: SourceNic[],
  spec: VirtualMachineImportSpec,
  importNamespace: string,
): NetworkLayout {
  const mappings = spec.networkMapping ?? [];
  const defaultModel: NicModel = spec.defaultNetworkInterfaceModel || DEFAULT_NIC_MODEL;
  const interfaces: KubevirtInterface[] = [];
  const networks: KubevirtNetwork[] = [];
  const unmapped: SourceNic[] = [];
  let podNetworkUsed = false;

  nics.forEach((nic, index) => {
    const mapping = findMapping(nic, mappings);
    const model: NicModel = mapping?.networkInterfaceModel || nic.model || defaultModel;
    const mac = nic.mac ? { macAddress: nic.mac } : {};
    if (mapping?.destinationNetwork) {
      const name = nicName(index);
      interfaces.push({ name, model, ...mac, bridge: {} });
      networks.push({
        name,
        multus: { networkName: multusNetworkName(mapping.destinationNetwork, importNamespace) },
      });
    } else if (!podNetworkUsed) {
      podNetworkUsed = true;
      // The guest keeps its device model and MAC: guest network configuration is often keyed
      // on them, and masquerade hands out the address by DHCP anyway.
      interfaces.push({ name: POD_NETWORK_NAME, model, ...mac, masquerade: {} });
      networks.push({ name: POD_NETWORK_NAME, pod: {} });
    } else {
      unmapped.push(nic);
    }
  });

  if (nics.length === 0) {
    interfaces.push({ name: POD_NETWORK_NAME, model: defaultModel, masquerade: {} });
    networks.push({ name: POD_NETWORK_NAME, pod: {} });
  }
  return { interfaces, networks, unmapped };
}

/** One sentence for a condition message about NICs that could not be attached, or undefined. */
export function unmappedNicsMessage(unmapped: readonly SourceNic[]): string | undefined {
  if (unmapped.length === 0) return undefined;
  const list = unmapped.map((n) => `${n.network}${n.mac ? ` (${n.mac})` : ''}`).join(', ');
  return (
    `${unmapped.length} NIC(s) on unmapped networks were not attached because the VM can have only one pod ` +
    `network: ${list}. Add spec.networkMapping entries for these networks to keep them.`
  );
}
