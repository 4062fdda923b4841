// The functions' liveness and readiness endpoints. faas-js-runtime's own (lib/health-check.js)
// answer through overload-protection, which fails both with 503 while the event loop lags more
// than 42 ms — routine on a busy node, and then the kubelet restarts a healthy function (liveness)
// or takes it out of its Service (readiness) — and, handed fastify's reply instead of an
// http.ServerResponse, throws "res.setHeader is not a function" on the way. A process that
// answers HTTP at all is alive and ready: the function keeps no state to warm up.
import type { HealthCheck } from 'faas-js-runtime';

const answerOk = (path: string): HealthCheck => Object.assign(async () => 'OK', { path });

export const HEALTH_CHECKS = {
  liveness: answerOk('/health/liveness'),
  readiness: answerOk('/health/readiness'),
};
