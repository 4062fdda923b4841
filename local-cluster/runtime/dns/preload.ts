// Loaded with `node --import` (NODE_OPTIONS, set by the node agent) into every Node process of a
// pod; Node 22 strips its types itself, so it needs no transpiler. Cluster DNS for "<svc>.<ns>.svc[.cluster.local]" and, when the process has a pod
// address (VMI_POD_IP), servers that listen on all interfaces or without a host are bound to
// that address instead, so every pod owns its ports like on a real pod network.
import net from 'node:net';
import { installClusterDns } from './resolver.ts';

const hostsFile = process.env.VMI_CLUSTER_DNS_HOSTS;
if (hostsFile) installClusterDns(hostsFile);

const podIp = process.env.VMI_POD_IP;
if (podIp) {
  const originalListen = net.Server.prototype.listen;
  const anyHost = (h: unknown) => h === undefined || h === null || h === '0.0.0.0' || h === '::' || h === '';
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    const first = args[0];
    if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
      const o = first as net.ListenOptions;
      if (o.port !== undefined && anyHost(o.host)) args[0] = { ...o, host: podIp };
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      if (anyHost(args[1]) || typeof args[1] === 'function' || typeof args[1] === 'number') {
        // listen(port[, host][, backlog][, cb]) -> listen(port, podIp, ...rest)
        const rest =
          anyHost(args[1]) && args.length > 1 && typeof args[1] !== 'function'
            ? args.slice(2)
            : args.slice(1);
        args = [Number(first), podIp, ...rest];
      }
    }
    return (originalListen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof net.Server.prototype.listen;
}
