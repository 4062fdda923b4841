// The source's session ends mid-transfer: vCenter's sessions terminated as an administrator's
// SessionManager.TerminateSession does (the exporter's next call gets NotAuthenticated), Keystone's
// tokens revoked as DELETE /v3/auth/tokens does (every service answers 401 for them). The exporter
// logs in again and goes on.
import type { LocalCluster } from '../../../local-cluster/cluster.ts';
import { revokeOpenstackTokens } from '../../support/openstack.ts';
import { terminateVcenterSessions } from '../../support/vcenter-sessions.ts';
import type { Fault } from '../fault.ts';
import { describeObservation, momentReached, observe } from '../moments.ts';

function vcenterOf(cluster: LocalCluster) {
  const vc = cluster.endpoints.vmware;
  if (!vc) throw new Error('the local cluster runs no vcsim');
  return { url: vc.hostUrl, username: vc.username, password: vc.password, caCert: vc.caCert };
}

function keystoneOf(cluster: LocalCluster) {
  const os = cluster.endpoints.openstack;
  if (!os) throw new Error('the local cluster runs no OpenStack simulator');
  return { url: os.hostUrl, ...(os.ca_cert ? { ca_cert: os.ca_cert } : {}) };
}

export const sourceSessionExpiredFaults: Fault[] = [
  {
    name: 'vCenter sessions terminated (TerminateSession)',
    kind: 'source-session-expired',
    source: 'vmware',
    moment: 'mid-transfer',
    expected: { end: 'running' },
    async inject({ cluster }, target) {
      const at = await observe(cluster, target);
      const ended = await terminateVcenterSessions(vcenterOf(cluster));
      return {
        proof: `${ended} vCenter session(s) terminated; import ${describeObservation(at)}`,
        hit: ended > 0 && momentReached('mid-transfer', at),
      };
    },
  },
  {
    name: 'Keystone tokens revoked (DELETE /v3/auth/tokens)',
    kind: 'source-session-expired',
    source: 'openstack',
    moment: 'mid-transfer',
    expected: { end: 'running' },
    async inject({ cluster }, target) {
      const at = await observe(cluster, target);
      const revoked = await revokeOpenstackTokens(keystoneOf(cluster));
      return {
        proof: `${revoked} Keystone token(s) revoked; import ${describeObservation(at)}`,
        hit: revoked > 0 && momentReached('mid-transfer', at),
      };
    },
  },
];
