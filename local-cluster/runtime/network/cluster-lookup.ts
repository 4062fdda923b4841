// How the supervisor's own clients (the broker delivering to a Knative Service, the Harvester
// image stand-in downloading a disk server's URL) resolve cluster names: by asking CoreDNS, as a
// pod does through its resolv.conf. Other names go to the system resolver.
import dns from 'node:dns';
import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

const CLUSTER_DOMAIN = /\.svc(\.cluster\.local)?\.?$/i;

export function clusterDnsLookup(server: string): LookupFunction {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([server]);
  return (hostname, options, callback) => {
    if (!CLUSTER_DOMAIN.test(hostname)) {
      dns.lookup(hostname, options, callback);
      return;
    }
    // "<svc>.<ns>.svc" is what a pod's search path completes; CoreDNS answers the full name.
    const fqdn = /\.svc\.?$/i.test(hostname) ? `${hostname.replace(/\.$/, '')}.cluster.local` : hostname;
    resolver.resolve4(fqdn).then(
      (addresses) => {
        if (options.all)
          callback(
            null,
            addresses.map((address) => ({ address, family: 4 })),
          );
        else callback(null, addresses[0]!, 4);
      },
      (err: NodeJS.ErrnoException) => {
        const notFound: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname} (${err.code})`);
        notFound.code = 'ENOTFOUND';
        callback(notFound, '', 4);
      },
    );
  };
}

/** Agents for axios (httpAgent / httpsAgent) that resolve cluster names through CoreDNS. */
export function clusterHttpAgents(server: string): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  const lookup = clusterDnsLookup(server);
  return { httpAgent: new http.Agent({ lookup }), httpsAgent: new https.Agent({ lookup }) };
}
