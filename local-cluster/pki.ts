// A private CA and a server certificate signed by it, made once with openssl and reused, so that
// the embedded API server and every simulator speak real, verified TLS.
import { execa } from 'execa';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Pki {
  caCertPem: string;
  caCertPath: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

const DAYS = '3650';

function subjectAltNames(hosts: string[]): string {
  return hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}

/** Returns the PKI in `dir`, creating the CA and a certificate for exactly `hosts` when needed. */
export async function ensurePki(dir: string, hosts: string[]): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const caKey = join(dir, 'ca.key');
  const caCertPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'server.key');
  const certPath = join(dir, 'server.crt');
  const hostsFile = join(dir, 'server.hosts');
  const san = subjectAltNames([...new Set(hosts)].sort());

  if (!(await exists(caCertPath)) || !(await exists(caKey))) {
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      caKey,
      '-out',
      caCertPath,
      '-days',
      DAYS,
      '-subj',
      '/CN=vm-import local CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }
  const current = await readFile(hostsFile, 'utf8').catch(() => '');
  if (current !== san || !(await exists(certPath))) {
    const csr = join(dir, 'server.csr');
    const ext = join(dir, 'server.ext');
    await execa('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      csr,
      '-subj',
      `/CN=${hosts[0] ?? 'localhost'}`,
    ]);
    await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    await execa('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCertPath,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      certPath,
      '-days',
      DAYS,
      '-extfile',
      ext,
    ]);
    await writeFile(hostsFile, san);
  }
  const [caCertPem, certPem, keyPem] = await Promise.all([
    readFile(caCertPath, 'utf8'),
    readFile(certPath, 'utf8'),
    readFile(keyPath, 'utf8'),
  ]);
  return { caCertPem, caCertPath, certPath, keyPath, certPem, keyPem };
}
