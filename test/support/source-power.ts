// A source VM's power state as the source reports it, read the way the product reads it (our
// vSphere and OpenStack clients), for tests that check what an import did to its source.
import { OpenstackClient } from '../../functions/shared/sources/openstack/client.ts';
import { vmwarePowerState } from '../../functions/shared/sources/vmware/power.ts';

export interface VmwareEndpoint {
  url: string;
  username: string;
  password: string;
  caCertPem?: string;
  caCert?: string;
  datacenter: string;
}

/** summary.runtime.powerState of a VM: poweredOn, poweredOff or suspended. */
export async function vmwarePowerStateOf(vc: VmwareEndpoint, name: string, folder?: string): Promise<string> {
  const caCertPem = vc.caCertPem ?? vc.caCert;
  const state = await vmwarePowerState(
    {
      endpoint: vc.url,
      username: vc.username,
      password: vc.password,
      ...(caCertPem ? { caCertPem } : {}),
      insecureSkipVerify: false,
    },
    vc.datacenter,
    { name, ...(folder ? { folder } : {}) },
  );
  return state.powerState;
}

export interface OpenstackEndpoint {
  url: string;
  region: string;
  username: string;
  password: string;
  project_name: string;
  domain_name: string;
  ca_cert?: string;
}

/** Nova's status of a server: ACTIVE, SHUTOFF, … */
export async function openstackServerStatus(os: OpenstackEndpoint, nameOrId: string): Promise<string> {
  const client = await OpenstackClient.connect({
    endpoint: os.url,
    region: os.region,
    credentials: {
      username: os.username,
      password: os.password,
      projectName: os.project_name,
      domainName: os.domain_name,
      ...(os.ca_cert ? { caCertPem: os.ca_cert } : {}),
      insecureSkipVerify: false,
    },
  });
  return (await client.findServer(nameOrId)).status;
}
