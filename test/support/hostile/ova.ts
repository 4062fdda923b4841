// Builds OVF descriptors and OVA (tar) archives in memory, with knobs for what hostile ones get
// wrong; and serves byte buffers over HTTP the way an OVA web server would (optionally stalling,
// resetting or closing early).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pack } from 'tar-stream';
import { validVmdk } from './vmdk.ts';

export interface HostileOvfDisk {
  diskId?: string;
  fileRef?: string;
  capacity?: string;
  units?: string;
  format?: string;
}

export interface HostileOvf {
  files?: { id: string; href: string; size?: string }[];
  disks?: HostileOvfDisk[];
  nics?: number;
  memory?: string;
  /** Raw XML put inside the VirtualSystem (padding, deep nesting, ...). */
  extra?: string;
  namespace?: string;
}

const STREAM = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

/** An ovftool-shaped OVF 1.0 descriptor; by default one 1 MiB disk in file "disk1.vmdk". */
export function hostileOvf(o: HostileOvf = {}): string {
  const files = o.files ?? [{ id: 'file1', href: 'disk1.vmdk' }];
  const disks = o.disks ?? [{}];
  const items: string[] = [
    `<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>`,
    `<Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>${o.memory ?? '512'}</rasd:VirtualQuantity></Item>`,
    `<Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>`,
  ];
  disks.forEach((_, i) => {
    items.push(
      `<Item><rasd:ElementName>Hard disk ${i + 1}</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk${i + 1}</rasd:HostResource><rasd:InstanceID>${10 + i}</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>`,
    );
  });
  for (let i = 0; i < (o.nics ?? 1); i++) {
    items.push(
      `<Item><rasd:Connection>VM Network</rasd:Connection><rasd:ElementName>Network adapter ${i + 1}</rasd:ElementName><rasd:InstanceID>${1000 + i}</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="${o.namespace ?? 'http://schemas.dmtf.org/ovf/envelope/1'}" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>${files.map((f) => `<File ovf:id="${f.id}" ovf:href="${f.href}"${f.size ? ` ovf:size="${f.size}"` : ''}/>`).join('')}</References>
  <DiskSection><Info>disks</Info>${disks
    .map(
      (d, i) =>
        `<Disk ovf:diskId="${d.diskId ?? `vmdisk${i + 1}`}" ovf:capacity="${d.capacity ?? '1048576'}"${d.units !== undefined ? ` ovf:capacityAllocationUnits="${d.units}"` : ''}${d.fileRef === '' ? '' : ` ovf:fileRef="${d.fileRef ?? `file${i + 1}`}"`} ovf:format="${d.format ?? STREAM}"/>`,
    )
    .join('')}</DiskSection>
  <VirtualSystem ovf:id="hostile-vm"><Info>vm</Info>${o.extra ?? ''}
    <VirtualHardwareSection><Info>hw</Info><System><vssd:VirtualSystemType xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">vmx-14</vssd:VirtualSystemType></System>
      ${items.join('\n      ')}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

export interface TarMember {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  /** Header size different from the data (tar-stream writes the header as given). */
  size?: number;
}

/** A tar archive (ustar/pax as tar-stream writes it) of `members`, in order. */
export async function buildTar(members: TarMember[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const m of members) {
    const data = typeof m.data === 'string' ? Buffer.from(m.data) : (m.data ?? Buffer.alloc(0));
    await new Promise<void>((resolve, reject) =>
      p.entry(
        {
          name: m.name,
          type: m.type ?? 'file',
          ...(m.linkname ? { linkname: m.linkname } : {}),
          ...(m.type === undefined || m.type === 'file' ? { size: data.length } : {}),
        },
        m.type === undefined || m.type === 'file' ? data : Buffer.alloc(0),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The usual OVA: OVF first, then one small valid VMDK per OVF file. */
export async function hostileOva(ovf: string, disks: Record<string, Buffer> = { 'disk1.vmdk': validVmdk() }) {
  return buildTar([
    { name: 'vm.ovf', data: ovf },
    ...Object.entries(disks).map(([name, data]) => ({ name, data })),
  ]);
}

export type ServeMode = 'normal' | 'stall' | 'reset' | 'close-early' | 'no-length';

export interface BufferServer {
  url(name: string): string;
  put(name: string, body: Buffer, mode?: ServeMode): void;
  close(): Promise<void>;
}

/** Serves named buffers. 'stall' sends half and then nothing; 'reset' half then RST; 'close-early' half then FIN. */
export async function startBufferServer(): Promise<BufferServer> {
  const files = new Map<string, { body: Buffer; mode: ServeMode }>();
  const server: Server = createServer((req, res) => {
    const f = files.get((req.url ?? '/').slice(1));
    if (!f) return void res.writeHead(404).end();
    const { body, mode } = f;
    res.writeHead(200, mode === 'no-length' ? {} : { 'Content-Length': String(body.length) });
    if (req.method === 'HEAD') return void res.end();
    if (mode === 'normal' || mode === 'no-length') return void res.end(body);
    res.write(body.subarray(0, body.length >> 1));
    if (mode === 'reset') setTimeout(() => req.socket.resetAndDestroy(), 50);
    if (mode === 'close-early') setTimeout(() => req.socket.destroySoon(), 50);
    // 'stall': keep the connection open and send nothing more.
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    put: (name, body, mode = 'normal') => void files.set(name, { body, mode }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
