// Re-creation of upstream's VMware export (pkg/source/vmware/client.go ExportVirtualMachine and
// pkg/qemu/qemu.go): ExportVm lease,
// the lease updater every 2 s, each VMDK downloaded whole into a staging dir on scratch, lease
// completed, then `qemu-img convert -f vmdk -O raw` per disk (sequentially) into `<disk>.img`, the
// VMDK deleted. qemu-img runs under /usr/bin/time -v for its peak RSS.
import { execa } from 'execa';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmwareConnection } from '../../functions/shared/sources/vmware/connection.ts';
import { findVm, retrieveObjectProperties } from '../../functions/shared/sources/vmware/inventory.ts';
import { vimCall, withVimSession, type VimSession } from '../../functions/shared/sources/vmware/session.ts';
import {
  asArray,
  child,
  moRefArg,
  text,
  toMoRef,
} from '../../functions/shared/sources/vmware/soap-values.ts';
import { resolveDeviceUrl } from '../../functions/shared/sources/vmware/export.ts';
import { goFetch } from './go-tool.ts';

export interface UpstreamExportResult {
  sourceBytes: number;
  /** Peak RSS of the qemu-img children (KiB), 0 when none ran. */
  qemuRssKiB: number;
  /** Served file names in the scratch dir, by disk index. */
  files: string[];
}

/**
 * An ExportVm lease on the VM, as upstream holds one: waited for until ready, its progress
 * reported every 2 s from the bytes `fn` says it has read, completed after `fn`. `fn` gets the
 * session (cookie, TLS agent) and the URLs of the VM's VMDKs.
 */
export async function withExportLease<T>(
  conn: VmwareConnection,
  dc: string,
  vmName: string,
  fn: (s: VimSession, vmdkUrls: string[], progress: (bytesRead: number) => void) => Promise<T>,
): Promise<T> {
  return withVimSession(conn, async (s) => {
    const lease = toMoRef(
      await vimCall(s, 'ExportVm', { _this: moRefArg(await findVm(s, dc, { name: vmName })) }),
    )!;
    let info: unknown;
    for (;;) {
      const props = await retrieveObjectProperties(s, lease, ['state', 'info']);
      if (text(props.get('state')) === 'ready') {
        info = props.get('info');
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const urls = asArray(child(info, 'deviceUrl'))
      .map((d) => text(child(d, 'url'))!)
      .filter((u) => u.endsWith('.vmdk'))
      .map((u) => resolveDeviceUrl(u, conn.endpoint));
    const total = Number(text(child(info, 'totalDiskCapacityInKB')) ?? 0) * 1024 || 1;
    let read = 0;
    const updater = setInterval(() => {
      const percent = Math.min(100, Math.floor((read * 100) / total));
      void vimCall(s, 'HttpNfcLeaseProgress', { _this: moRefArg(lease), percent }).catch(() => undefined);
    }, 2000);
    let result: T;
    try {
      result = await fn(s, urls, (bytes) => (read = bytes));
    } finally {
      clearInterval(updater);
    }
    await vimCall(s, 'HttpNfcLeaseComplete', { _this: moRefArg(lease) }).catch(() => undefined);
    return result;
  });
}

export async function upstreamVmwareExport(
  conn: VmwareConnection,
  dc: string,
  vmName: string,
  scratchDir: string,
): Promise<UpstreamExportResult> {
  const staging = join(scratchDir, `${vmName}-staging`);
  await mkdir(staging, { recursive: true });
  let sourceBytes = 0;
  const vmdks = await withExportLease(conn, dc, vmName, async (s, urls, progress) => {
    const staged: string[] = [];
    for (const [i, url] of urls.entries()) {
      const vmdk = join(staging, `disk-${i}.vmdk`);
      sourceBytes += await goFetch(url, vmdk, {
        ...(conn.caCertPem ? { caCertPem: conn.caCertPem } : {}),
        headers: { Cookie: s.cookie },
      });
      progress(sourceBytes);
      staged.push(vmdk);
    }
    return staged;
  });
  let qemuRssKiB = 0;
  const files: string[] = [];
  for (const [i, vmdk] of vmdks.entries()) {
    const file = `disk-${i}.img`;
    const convert = await execa('/usr/bin/time', [
      '-v',
      'qemu-img',
      'convert',
      '-f',
      'vmdk',
      '-O',
      'raw',
      vmdk,
      join(scratchDir, file),
    ]);
    qemuRssKiB = Math.max(qemuRssKiB, maxRssFromTimeOutput(convert.stderr));
    await rm(vmdk);
    files.push(file);
  }
  await rm(staging, { recursive: true, force: true });
  return { sourceBytes, qemuRssKiB, files };
}

/** "Maximum resident set size (kbytes): N" of GNU time -v. */
export function maxRssFromTimeOutput(stderr: string): number {
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!m) throw new Error('no "Maximum resident set size" in the output of /usr/bin/time -v');
  return Number(m[1]);
}
