// OVF 0.9 (VMware's pre-DMTF draft, written by VMware Studio, ESX 3.5 and Converter 3) has the
// same content as OVF 1.0 in another shape: every section is a generic <Section xsi:type=
// "ovf:DiskSection_Type">, the virtual system a <Content xsi:type="ovf:VirtualSystem_Type">, and
// RASD items say InstanceId. ovftool still reads it. This rewrites such a tree into the OVF 1.0
// element names, so one parser reads both; attributes keep their (0.9) namespace. Early OVF 1.0
// writers (VirtualCenter 2.5 betas) used the same generic shape under the 1.0 namespace.
import type { XmlElement } from './xml-tree.ts';

export const OVF09_NS = 'http://www.vmware.com/schema/ovf/1/envelope';
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

/** A copy of `el` with generic sections (in the envelope's namespace) renamed to their OVF 1.0 element names. */
export function normalizeOvf09(el: XmlElement, envelopeNs: string): XmlElement {
  let { local, ns } = el;
  // Some of these writers also left the sections unqualified (no default namespace declared).
  if ((ns === envelopeNs || ns === '') && (local === 'Section' || local === 'Content')) {
    const type = el.attributes.find((a) => a.local === 'type' && a.ns === XSI_NS)?.value;
    // "ovf:DiskSection_Type" → DiskSection; the prefix is whatever the file bound to the namespace.
    const m = type === undefined ? null : /^(?:[^:]+:)?([A-Za-z]+)_Type$/.exec(type.trim());
    if (m) {
      local = m[1] as string;
      ns = envelopeNs;
    }
  } else if (local === 'InstanceId') {
    local = 'InstanceID';
  }
  return { ...el, ns, local, children: el.children.map((c) => normalizeOvf09(c, envelopeNs)) };
}
