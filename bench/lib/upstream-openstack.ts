// Re-creation of upstream's OpenStack export (pkg/source/openstack/client.go ExportVirtualMachine,
// scratch files under the controller's temp dir): per attached
// volume, sequentially: snapshot → volume from snapshot → os-volume_upload_image (raw) → wait for
// the image → GET /v2/images/<id>/file copied as is (Go's io.Copy: every byte written, no holes) to
// `<disk>.img`; then image, volume and snapshot deleted. No conversion (upstream downloads raw).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OpenstackClient } from '../../functions/shared/sources/openstack/client.ts';
import type { OpenstackConnection } from '../../functions/shared/sources/openstack/connection.ts';
import { goFetch } from './go-tool.ts';
import type { UpstreamExportResult } from './upstream-vmware.ts';

const JSON_HEADERS = { 'Content-Type': 'application/json' };

export async function upstreamOpenstackExport(
  conn: OpenstackConnection,
  serverName: string,
  scratchDir: string,
  pollMs: number,
): Promise<UpstreamExportResult> {
  await mkdir(scratchDir, { recursive: true });
  const client = await OpenstackClient.connect(conn);
  const s = client.session;
  const server = await client.findServer(serverName);
  const waitFor = async (service: 'volume' | 'image', path: string, key: string | null, want: string) => {
    for (;;) {
      const res = await s.call<Record<string, { status?: string }> & { status?: string }>(service, path, {
        method: 'GET',
        what: `reading ${path}`,
      });
      const status = key ? res.data[key]?.status : res.data.status;
      if (status === want) return;
      if (res.status >= 400 || status?.startsWith('error') || status === 'killed')
        throw new Error(`${path}: HTTP ${res.status}, status ${status}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  let sourceBytes = 0;
  const files: string[] = [];
  for (const [i, volume] of (await client.volumesOf(server)).entries()) {
    const name = `import-controller-${serverName}-${i}`;
    const snap = (
      await s.call<{ snapshot: { id: string; size: number } }>('volume', '/snapshots', {
        method: 'POST',
        headers: JSON_HEADERS,
        data: { snapshot: { name, volume_id: volume.id, force: true } },
        what: 'snapshot',
      })
    ).data.snapshot;
    await waitFor('volume', `/snapshots/${snap.id}`, 'snapshot', 'available');
    const vol = (
      await s.call<{ volume: { id: string } }>('volume', '/volumes', {
        method: 'POST',
        headers: JSON_HEADERS,
        data: { volume: { size: snap.size, snapshot_id: snap.id } },
        what: 'volume',
      })
    ).data.volume;
    await waitFor('volume', `/volumes/${vol.id}`, 'volume', 'available');
    const imageId = (
      await s.call<{ 'os-volume_upload_image': { image_id: string } }>(
        'volume',
        `/volumes/${vol.id}/action`,
        {
          method: 'POST',
          headers: JSON_HEADERS,
          data: { 'os-volume_upload_image': { image_name: name, disk_format: 'raw' } },
          what: 'upload',
        },
      )
    ).data['os-volume_upload_image'].image_id;
    try {
      await waitFor('image', `/images/${imageId}`, null, 'active');
      const file = `disk-${i}.img`;
      sourceBytes += await goFetch(`${s.endpoint('image')}/images/${imageId}/file`, join(scratchDir, file), {
        ...(conn.credentials.caCertPem ? { caCertPem: conn.credentials.caCertPem } : {}),
        headers: await s.authHeaders(),
      });
      files.push(file);
    } finally {
      // Upstream deletes without waiting; the snapshot waits for its volume here only so the
      // simulator does not keep a copy of the disk behind (cleanup is not what is measured).
      await s.call('image', `/images/${imageId}`, { method: 'DELETE', what: 'delete image' });
      await s.call('volume', `/volumes/${vol.id}`, { method: 'DELETE', what: 'delete volume' });
      for (;;) {
        const r = await s.call('volume', `/volumes/${vol.id}`, { method: 'GET', what: 'volume gone?' });
        if (r.status === 404) break;
        await new Promise((r2) => setTimeout(r2, pollMs));
      }
      await s.call('volume', `/snapshots/${snap.id}`, { method: 'DELETE', what: 'delete snapshot' });
    }
  }
  return { sourceBytes, qemuRssKiB: 0, files };
}
