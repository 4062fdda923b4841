// A reverse proxy in front of one function's revision pod that injects faults (faults.ts) into the
// deliveries Knative's broker filter makes: it stands where Knative Serving's activator and
// queue-proxy stand on a real cluster. Knative itself then retries, backs off, dead-letters and
// redelivers; nothing here retries on Knative's behalf.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, type FaultOptions, type FaultPlan } from './faults.ts';

/** Events whose plan and attempt count are remembered (a bounded window: oldest forgotten first). */
const REMEMBERED_EVENTS = 10_000;

export interface FaultProxy {
  /** The port it listens on (at the host address the function's Service routes to). */
  port: number;
  /** Where requests go: the revision pod's address and port; undefined answers 503 (not ready). */
  setTarget(target: { host: string; port: number } | undefined): void;
  close(): Promise<void>;
}

interface EventState {
  plan: FaultPlan;
  attempts: number;
  duplicated: boolean;
}

export async function startFaultProxy(host: string, options: FaultOptions): Promise<FaultProxy> {
  const injector = new FaultInjector(options);
  const events = new Map<string, EventState>();
  let target: { host: string; port: number } | undefined;

  const stateOf = (id: string): EventState => {
    let st = events.get(id);
    if (!st) {
      st = { plan: injector.plan(), attempts: 0, duplicated: false };
      events.set(id, st);
      if (events.size > REMEMBERED_EVENTS) events.delete(events.keys().next().value!);
    }
    return st;
  };

  const answer = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(`fault injection: ${text}`);
  };

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse | undefined): Promise<void> =>
    new Promise((resolve) => {
      if (!target) {
        if (res) answer(res, 503, 'the revision has no ready pod');
        resolve();
        return;
      }
      const upstream = request(
        { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          if (!res) {
            up.resume()
              .on('end', resolve)
              .on('error', () => resolve());
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res)
            .on('finish', resolve)
            .on('error', () => resolve());
        },
      );
      upstream.on('error', (err) => {
        if (res && !res.headersSent) answer(res, 502, `the revision pod did not answer: ${err.message}`);
        resolve();
      });
      upstream.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const id = req.headers['ce-id'];
    // Probes and anything that is not a CloudEvent in binary mode pass untouched.
    if (typeof id !== 'string') return forward(req, body, res);
    const st = stateOf(id);
    st.attempts += 1;
    const hold = st.plan.holdMs + st.plan.delayMs;
    if (hold > 0) await new Promise((r) => setTimeout(r, hold));
    if (st.attempts <= st.plan.failFirstAttempts) return answer(res, 503, `attempt ${st.attempts} failed`);
    if (st.plan.dropAfterRetries) return answer(res, 202, 'acknowledged, never delivered');
    if (st.plan.copies > 1 && !st.duplicated) {
      st.duplicated = true;
      await forward(req, body, undefined);
      return answer(res, 503, 'delivered, reply lost');
    }
    return forward(req, body, res);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) answer(res, 500, String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setTarget(t) {
      target = t;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
