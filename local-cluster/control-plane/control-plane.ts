// The real Kubernetes control plane of the local cluster: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from their Go modules
// (local-cluster/components/), run with the flags a kubeadm cluster gives them — client
// certificates and service-account tokens, Node+RBAC authorization, the default admission plugins
// plus OwnerReferencesPermissionEnforcement, API priority and fairness, an audit log. etcd keeps
// its data under <stateDir>/etcd, so a restart finds every object again.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  ensureCertificate,
  ensureClusterCa,
  ensureServiceAccountKeys,
  type IssuedCertificate,
} from './certificates.ts';
import { startComponent, waitForComponent, type ComponentProcess } from './component-process.ts';
import { componentBinary } from './components.ts';

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ControlPlaneOptions {
  stateDir: string;
  /** The Service cluster-IP range (CIDR). */
  serviceCidr: string;
  /**
   * The API server's bind and advertise address (default 127.0.0.1): the host's address on the
   * pod network's link, so that pods reach it through the `kubernetes` Service.
   */
  address?: string;
  /** Run kube-controller-manager and kube-scheduler too (default true); false: etcd + API server. */
  controllers?: boolean;
  log(message: string, fields?: Record<string, unknown>): void;
}

export interface ControlPlane {
  url: string;
  caCertPem: string;
  caCertPath: string;
  /** system:masters client certificate (what kubeadm's admin.conf holds). */
  adminKubeconfigPath: string;
  /** JSON lines of the API server's audit log (service-account requests, Metadata level). */
  auditLogPath: string;
  /** Client certificate of a node (system:node:<name>, group system:nodes). */
  nodeCredentials(nodeName: string): Promise<IssuedCertificate>;
  /** A token for the service account from the TokenRequest API, optionally bound to a pod. */
  requestServiceAccountToken(
    namespace: string,
    name: string,
    options?: { boundPod?: { name: string; uid: string }; expirationSeconds?: number },
  ): Promise<string>;
  /** Client certificate of a cluster component (kube-proxy: system:kube-proxy, CoreDNS, ...). */
  clientCredentials(name: string, commonName: string): Promise<IssuedCertificate>;
  /** Kubeconfig YAML of a client-certificate identity. */
  kubeconfigFor(cert: IssuedCertificate): string;
  processes: ComponentProcess[];
  /**
   * Stops one component (SIGTERM, or SIGKILL when `kill`) and starts it again, as a kubelet
   * restarts a static pod; resolves once etcd answers /health or the API server /readyz again.
   */
  restart(component: 'etcd' | 'kube-apiserver', options?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The ports of the last run when they are still free (etcd keeps its peer URL in its data). */
async function choosePorts(file: string): Promise<Ports> {
  const previous = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as Partial<Ports>;
  const ports = {} as Ports;
  for (const key of ['etcdClient', 'etcdPeer', 'apiServer'] as const) {
    const p = previous[key];
    ports[key] = p && (await portIsFree(p)) ? p : await freePort();
  }
  await writeFile(file, JSON.stringify(ports));
  return ports;
}

/** Metadata of every request made by a service account: who, what, and the RBAC decision. */
const AUDIT_POLICY = stringify({
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [{ level: 'Metadata', userGroups: ['system:serviceaccounts'] }, { level: 'None' }],
});

function httpsGet(
  url: string,
  cert: IssuedCertificate,
  caPem: string,
): Promise<{ status: number; body: string }> {
  return Promise.all([readFile(cert.certPath), readFile(cert.keyPath)]).then(
    ([certPem, keyPem]) =>
      new Promise((resolve, reject) => {
        const req = request(url, { ca: caPem, cert: certPem, key: keyPem, timeout: 5000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      }),
  );
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const dir = join(options.stateDir, 'control-plane');
  const pkiDir = join(dir, 'pki');
  const logs = join(options.stateDir, 'logs');
  await mkdir(logs, { recursive: true });
  const ca = await ensureClusterCa(pkiDir);
  const serviceIp = firstServiceIp(options.serviceCidr);
  const address = options.address ?? '127.0.0.1';
  const [serving, admin, kcm, scheduler, kubeletClient, sa] = await Promise.all([
    ensureCertificate(ca, {
      name: 'apiserver',
      commonName: 'kube-apiserver',
      usage: 'server',
      hosts: [
        ...new Set(['127.0.0.1', address]),
        'localhost',
        serviceIp,
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
    }),
    ensureCertificate(ca, {
      name: 'admin',
      commonName: 'kubernetes-admin',
      organizations: ['system:masters'],
      usage: 'client',
    }),
    ensureCertificate(ca, {
      name: 'controller-manager',
      commonName: 'system:kube-controller-manager',
      usage: 'client',
    }),
    ensureCertificate(ca, { name: 'scheduler', commonName: 'system:kube-scheduler', usage: 'client' }),
    ensureCertificate(ca, {
      name: 'apiserver-kubelet-client',
      commonName: 'kube-apiserver-kubelet-client',
      organizations: ['kubeadm:cluster-admins'],
      usage: 'client',
    }),
    ensureServiceAccountKeys(pkiDir),
  ]);
  const ports = await choosePorts(join(dir, 'ports.json'));
  const url = `https://${address}:${ports.apiServer}`;
  const kubeconfigFor = (cert: IssuedCertificate) =>
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server: url, 'certificate-authority': ca.certPath } }],
      users: [{ name: 'user', user: { 'client-certificate': cert.certPath, 'client-key': cert.keyPath } }],
      contexts: [{ name: 'local', context: { cluster: 'local', user: 'user', namespace: 'default' } }],
      'current-context': 'local',
    });
  const adminKubeconfigPath = join(dir, 'admin.kubeconfig');
  await writeFile(adminKubeconfigPath, kubeconfigFor(admin), { mode: 0o600 });
  await writeFile(join(dir, 'controller-manager.kubeconfig'), kubeconfigFor(kcm), { mode: 0o600 });
  await writeFile(join(dir, 'scheduler.kubeconfig'), kubeconfigFor(scheduler), { mode: 0o600 });
  const auditPolicyPath = join(dir, 'audit-policy.yaml');
  await writeFile(auditPolicyPath, AUDIT_POLICY);
  const auditLogPath = join(logs, 'kube-apiserver-audit.log');

  const processes: ComponentProcess[] = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await p.stop();
    processes.length = 0;
  };
  try {
    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    const etcd = startComponent(
      'etcd',
      await componentBinary('etcd', 'etcd'),
      [
        '--name=local',
        `--data-dir=${join(options.stateDir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=local=${peerUrl}`,
        '--listen-metrics-urls=',
        '--log-level=warn',
      ],
      join(logs, 'etcd.log'),
    );
    processes.push(etcd);
    const etcdHealthy = async () =>
      (await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) })).ok;
    await waitForComponent('etcd', etcdHealthy, [etcd], 60_000);

    const apiserver = startComponent(
      'kube-apiserver',
      await componentBinary('kubernetes', 'kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${address}`,
        `--advertise-address=${address}`,
        `--secure-port=${ports.apiServer}`,
        `--tls-cert-file=${serving.certPath}`,
        `--tls-private-key-file=${serving.keyPath}`,
        `--client-ca-file=${ca.certPath}`,
        `--kubelet-client-certificate=${kubeletClient.certPath}`,
        `--kubelet-client-key=${kubeletClient.keyPath}`,
        `--kubelet-certificate-authority=${ca.certPath}`,
        '--kubelet-preferred-address-types=InternalIP',
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${sa.publicKeyPath}`,
        `--service-account-signing-key-file=${sa.keyPath}`,
        `--service-cluster-ip-range=${options.serviceCidr}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement',
        '--allow-privileged=false',
        '--profiling=false',
        `--audit-policy-file=${auditPolicyPath}`,
        `--audit-log-path=${auditLogPath}`,
        '--audit-log-format=json',
        '--audit-log-maxsize=200',
        // Endpoints validation refuses a loopback address: without the pod network, no
        // `kubernetes` Service endpoints.
        ...(address.startsWith('127.') ? ['--endpoint-reconciler-type=none'] : []),
        '--v=1',
      ],
      join(logs, 'kube-apiserver.log'),
    );
    processes.push(apiserver);
    const apiServerReady = async () => (await httpsGet(`${url}/readyz`, admin, ca.certPem)).status === 200;
    await waitForComponent('kube-apiserver', apiServerReady, [etcd, apiserver], 180_000);
    options.log('kube-apiserver ready', { url });

    if (options.controllers !== false) {
      const kcmProcess = startComponent(
        'kube-controller-manager',
        await componentBinary('kubernetes', 'kube-controller-manager'),
        [
          `--kubeconfig=${join(dir, 'controller-manager.kubeconfig')}`,
          `--authentication-kubeconfig=${join(dir, 'controller-manager.kubeconfig')}`,
          `--authorization-kubeconfig=${join(dir, 'controller-manager.kubeconfig')}`,
          '--bind-address=127.0.0.1',
          '--secure-port=0',
          '--leader-elect=false',
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${sa.keyPath}`,
          `--root-ca-file=${ca.certPath}`,
          `--cluster-signing-cert-file=${ca.certPath}`,
          `--cluster-signing-key-file=${ca.keyPath}`,
          `--service-cluster-ip-range=${options.serviceCidr}`,
          '--controllers=*,bootstrapsigner,tokencleaner',
          '--v=1',
        ],
        join(logs, 'kube-controller-manager.log'),
      );
      processes.push(kcmProcess);
      const schedulerProcess = startComponent(
        'kube-scheduler',
        await componentBinary('kubernetes', 'kube-scheduler'),
        [
          `--kubeconfig=${join(dir, 'scheduler.kubeconfig')}`,
          `--authentication-kubeconfig=${join(dir, 'scheduler.kubeconfig')}`,
          `--authorization-kubeconfig=${join(dir, 'scheduler.kubeconfig')}`,
          '--bind-address=127.0.0.1',
          '--secure-port=0',
          '--leader-elect=false',
          '--v=1',
        ],
        join(logs, 'kube-scheduler.log'),
      );
      processes.push(schedulerProcess);
    }

    const kc = new KubeConfig();
    kc.loadFromFile(adminKubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    return {
      url,
      caCertPem: ca.certPem,
      caCertPath: ca.certPath,
      adminKubeconfigPath,
      auditLogPath,
      processes,
      kubeconfigFor,
      async restart(component, opts) {
        const target = component === 'etcd' ? etcd : apiserver;
        await target.restart(opts);
        await waitForComponent(
          `${component} restarted`,
          component === 'etcd' ? etcdHealthy : apiServerReady,
          [target],
          180_000,
        );
        options.log(`${component} restarted`, { pid: target.pid, kill: opts?.kill ?? false });
      },
      nodeCredentials: (nodeName) =>
        ensureCertificate(ca, {
          name: `node-${nodeName}`,
          commonName: `system:node:${nodeName}`,
          organizations: ['system:nodes'],
          usage: 'server+client',
          hosts: [...new Set(['127.0.0.1', address]), nodeName],
        }),
      clientCredentials: (name, commonName) => ensureCertificate(ca, { name, commonName, usage: 'client' }),
      async requestServiceAccountToken(namespace, name, opts = {}) {
        const res = await core.createNamespacedServiceAccountToken({
          namespace,
          name,
          body: {
            spec: {
              audiences: [SERVICE_ACCOUNT_ISSUER],
              expirationSeconds: opts.expirationSeconds ?? 7 * 24 * 3600,
              ...(opts.boundPod
                ? {
                    boundObjectRef: {
                      apiVersion: 'v1',
                      kind: 'Pod',
                      name: opts.boundPod.name,
                      uid: opts.boundPod.uid,
                    },
                  }
                : {}),
            },
          },
        });
        const token = res.status?.token;
        if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
        return token;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The first address of the Service range: the `kubernetes` Service's cluster IP. */
function firstServiceIp(cidr: string): string {
  const [base] = cidr.split('/') as [string];
  const octets = base.split('.').map(Number);
  octets[3] = (octets[3] ?? 0) + 1;
  return octets.join('.');
}
