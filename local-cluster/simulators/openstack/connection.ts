// The connection the functions' OpenStack client uses to reach a simulator (tests and the bench).
import type { OpenstackConnection } from '../../../functions/shared/sources/openstack/connection.ts';
import type { OpenstackSimulator } from './index.ts';

/** The connection to `sim` as its admin, with TLS verified against its CA; fields overridable. */
export function openstackConnection(
  sim: OpenstackSimulator,
  overrides: Partial<OpenstackConnection['credentials']> & { region?: string } = {},
): OpenstackConnection {
  const { region, ...creds } = overrides;
  return {
    endpoint: sim.url,
    region: region ?? sim.region,
    credentials: {
      username: sim.username,
      password: sim.password,
      projectName: sim.projectName,
      domainName: sim.domainName,
      caCertPem: sim.caCertPem!,
      insecureSkipVerify: false,
      ...creds,
    },
  };
}
