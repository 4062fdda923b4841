// The control plane's PKI, made with openssl once per state directory and kept across down/up:
// the cluster CA, the API server's serving certificate, one client certificate per identity
// (admin, controller-manager, scheduler, the API server's kubelet client, the node), and the
// service-account signing key pair — the files kubeadm would lay out under /etc/kubernetes/pki.
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const DAYS = '3650';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

export interface ClusterCa {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
}

export interface IssuedCertificate {
  certPath: string;
  keyPath: string;
}

export interface CertificateRequest {
  /** File name stem under the PKI directory. */
  name: string;
  commonName: string;
  organizations?: string[];
  /** DNS names and IP addresses (server certificates). */
  hosts?: string[];
  usage: 'server' | 'client' | 'server+client';
}

export async function ensureClusterCa(
  dir: string,
  commonName = 'vm-import local cluster CA',
): Promise<ClusterCa> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  if (!(await exists(certPath)) || !(await exists(keyPath))) {
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      DAYS,
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]);
  }
  return { dir, certPath, keyPath, certPem: await readFile(certPath, 'utf8') };
}

function subject(req: CertificateRequest): string {
  return `${(req.organizations ?? []).map((o) => `/O=${o}`).join('')}/CN=${req.commonName}`;
}

function extensions(req: CertificateRequest): string {
  const usage = { server: 'serverAuth', client: 'clientAuth', 'server+client': 'serverAuth,clientAuth' }[
    req.usage
  ];
  const lines = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${usage}`,
  ];
  if (req.hosts?.length)
    lines.push(
      `subjectAltName=${req.hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',')}`,
    );
  return `${lines.join('\n')}\n`;
}

/** Issues `req` from the CA unless a certificate with the same subject and extensions is there. */
export async function ensureCertificate(ca: ClusterCa, req: CertificateRequest): Promise<IssuedCertificate> {
  const certPath = join(ca.dir, `${req.name}.crt`);
  const keyPath = join(ca.dir, `${req.name}.key`);
  const specPath = join(ca.dir, `${req.name}.spec`);
  const spec = `${subject(req)}\n${extensions(req)}`;
  if ((await readFile(specPath, 'utf8').catch(() => '')) === spec && (await exists(certPath)))
    return { certPath, keyPath };
  const csrPath = join(ca.dir, `${req.name}.csr`);
  const extPath = join(ca.dir, `${req.name}.ext`);
  await execa('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    csrPath,
    '-subj',
    subject(req),
  ]);
  await writeFile(extPath, extensions(req));
  await execa('openssl', [
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    ca.certPath,
    '-CAkey',
    ca.keyPath,
    // A random serial per certificate: -CAcreateserial shares ca.srl, which certificates issued
    // in parallel read half-written ("Unable to load number from ca.srl").
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-out',
    certPath,
    '-days',
    DAYS,
    '-extfile',
    extPath,
  ]);
  await writeFile(specPath, spec);
  return { certPath, keyPath };
}

/** The key pair the API server signs service-account tokens with and verifies them against. */
export async function ensureServiceAccountKeys(
  dir: string,
): Promise<{ keyPath: string; publicKeyPath: string }> {
  const keyPath = join(dir, 'sa.key');
  const publicKeyPath = join(dir, 'sa.pub');
  if (!(await exists(keyPath)) || !(await exists(publicKeyPath))) {
    await execa('openssl', ['genrsa', '-out', keyPath, '2048']);
    await execa('openssl', ['rsa', '-in', keyPath, '-pubout', '-out', publicKeyPath]);
  }
  return { keyPath, publicKeyPath };
}
