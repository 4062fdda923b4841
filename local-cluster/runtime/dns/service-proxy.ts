// kube-proxy for the local cluster: every Service port gets a TCP listener on the Service's
// cluster IP that forwards each connection to one ready endpoint (pod address + target port),
// round robin. Connections to a Service without endpoints are refused, as on a real cluster.
import net from 'node:net';

export interface Endpoint {
  address: string;
  port: number;
}

interface Listener {
  server: net.Server;
  sockets: Set<net.Socket>;
  endpoints: Endpoint[];
  next: number;
}

export class ServiceProxy {
  private readonly listeners = new Map<string, Listener>();

  /** Opens (or re-targets) the listener for clusterIP:port. */
  async expose(clusterIp: string, port: number, endpoints: Endpoint[]): Promise<void> {
    const key = `${clusterIp}:${port}`;
    const existing = this.listeners.get(key);
    if (existing) {
      existing.endpoints = endpoints;
      return;
    }
    const entry: Listener = { server: net.createServer(), sockets: new Set(), endpoints, next: 0 };
    entry.server.on('connection', (client) => {
      if (entry.endpoints.length === 0) {
        client.destroy();
        return;
      }
      const target = entry.endpoints[entry.next++ % entry.endpoints.length]!;
      const upstream = net.connect(target.port, target.address);
      entry.sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => {
        entry.sockets.delete(client);
        entry.sockets.delete(upstream);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
    });
    this.listeners.set(key, entry);
    await new Promise<void>((resolve, reject) => {
      entry.server.once('error', reject);
      entry.server.listen(port, clusterIp, () => resolve());
    });
  }

  async unexpose(clusterIp: string, port?: number): Promise<void> {
    for (const [key, entry] of this.listeners) {
      if (key === `${clusterIp}:${port}` || (port === undefined && key.startsWith(`${clusterIp}:`))) {
        this.listeners.delete(key);
        await closeListener(entry);
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map(closeListener));
  }
}

function closeListener(entry: Listener): Promise<void> {
  for (const s of entry.sockets) s.destroy();
  entry.sockets.clear();
  return new Promise<void>((r) => entry.server.close(() => r()));
}
