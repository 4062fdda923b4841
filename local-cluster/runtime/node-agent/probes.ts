// httpGet readiness and liveness probes as the kubelet runs them (pkg/kubelet/prober): every
// periodSeconds after initialDelaySeconds, a 2xx/3xx answer within timeoutSeconds passes,
// failureThreshold failures in a row fail, successThreshold passes in a row succeed. As the
// kubelet's HTTP prober (pkg/probe/http/http.go, request.go): HTTPS without verifying the
// certificate, the probe's httpHeaders, User-Agent kube-probe/<major>.<minor>, no redirects followed.
import axios from 'axios';
import { Agent as HttpsAgent } from 'node:https';
import { connect } from 'node:net';
import type { Container } from './container-spec.ts';

export interface HttpProbe {
  tcpSocket?: { port?: number | string };
  httpGet?: {
    path?: string;
    port?: number | string;
    scheme?: string;
    httpHeaders?: { name: string; value: string }[];
  };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

type ProbedContainer = Container & { readinessProbe?: HttpProbe; livenessProbe?: HttpProbe };

/**
 * The URL an httpGet probe checks on the pod's address, tcp://ip:port for a tcpSocket probe (a
 * connect within the timeout passes: pkg/probe/tcp/tcp.go); undefined for other probe kinds.
 */
export function probeUrl(
  probe: HttpProbe | undefined,
  container: Container,
  podIp: string,
): string | undefined {
  const portOf = (named: number | string | undefined) =>
    typeof named === 'number'
      ? named
      : /^\d+$/.test(String(named))
        ? Number(named)
        : (container.ports ?? []).find((p) => p.name === named)?.containerPort;
  if (probe?.tcpSocket) {
    const port = portOf(probe.tcpSocket.port);
    return port === undefined ? undefined : `tcp://${podIp}:${port}`;
  }
  const get = probe?.httpGet;
  if (!get) return undefined;
  const port = portOf(get.port);
  if (port === undefined) return undefined;
  // The kubelet parses the path as a URL and sets scheme and host (pkg/probe/http/request.go
  // formatURL), so a path without its leading slash ("health", as Knative's adapters have it) is
  // requested as /health.
  const path = get.path ?? '';
  return `${(get.scheme ?? 'HTTP').toLowerCase()}://${podIp}:${port}${path.startsWith('/') ? '' : '/'}${path}`;
}

/**
 * One probe: true (2xx/3xx in time), false, or undefined when the node agent itself was too busy
 * to tell (its event loop ran late by more than the timeout). A kubelet runs its probes on their
 * own goroutines; our single-threaded agent must not blame a container for its own lag.
 */
const unverifiedTls = new HttpsAgent({ rejectUnauthorized: false });
/** The kubelet's probe User-Agent names the Kubernetes release the local cluster builds (1.36). */
const PROBE_USER_AGENT = 'kube-probe/1.36';

async function check(
  url: string,
  timeoutMs: number,
  headers: { name: string; value: string }[] = [],
): Promise<boolean | undefined> {
  const started = performance.now();
  let lag = 0;
  const lagTimer = setTimeout(() => (lag = performance.now() - started - timeoutMs / 2), timeoutMs / 2);
  try {
    if (url.startsWith('tcp://')) {
      const { hostname, port } = new URL(url);
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: hostname, port: Number(port), timeout: timeoutMs }, () => {
          socket.destroy();
          resolve();
        });
        socket.on('timeout', () => socket.destroy(new Error('timeout'))).on('error', reject);
      });
      return true;
    }
    const res = await axios.get(url, {
      timeout: timeoutMs,
      maxRedirects: 0,
      proxy: false,
      httpsAgent: unverifiedTls,
      responseType: 'stream',
      validateStatus: () => true,
      headers: {
        'User-Agent': PROBE_USER_AGENT,
        ...Object.fromEntries(headers.map((h) => [h.name, h.value])),
      },
    });
    (res.data as NodeJS.ReadableStream & { destroy(): void }).destroy();
    return res.status >= 200 && res.status < 400;
  } catch {
    return lag > timeoutMs / 2 ? undefined : false;
  } finally {
    clearTimeout(lagTimer);
  }
}

export interface ProbeLoop {
  stop(): void;
}

/**
 * Runs a probe until stopped; `onChange` gets each transition (readiness starts false,
 * liveness starts true).
 */
export function runProbe(
  probe: HttpProbe,
  url: string,
  initial: boolean,
  onChange: (passing: boolean) => void,
): ProbeLoop {
  let stopped = false;
  let passing = initial;
  let successes = 0;
  let failures = 0;
  const period = (probe.periodSeconds ?? 10) * 1000;
  const timeout = (probe.timeoutSeconds ?? 1) * 1000;
  const loop = async () => {
    await new Promise((r) => setTimeout(r, (probe.initialDelaySeconds ?? 0) * 1000));
    while (!stopped) {
      const ok = await check(url, timeout, probe.httpGet?.httpHeaders);
      if (stopped) return;
      if (ok === undefined) continue;
      successes = ok ? successes + 1 : 0;
      failures = ok ? 0 : failures + 1;
      if (!passing && successes >= (probe.successThreshold ?? 1)) onChange((passing = true));
      else if (passing && failures >= (probe.failureThreshold ?? 3)) onChange((passing = false));
      // Until a container first becomes ready, check often so it does not wait a whole period.
      await new Promise((r) => setTimeout(r, !passing && initial === false ? Math.min(period, 250) : period));
    }
  };
  void loop();
  return {
    stop() {
      stopped = true;
    },
  };
}

export function containerProbes(container: Container): { readiness?: HttpProbe; liveness?: HttpProbe } {
  const c = container as ProbedContainer;
  return { readiness: c.readinessProbe, liveness: c.livenessProbe };
}
