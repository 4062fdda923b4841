// What every part of the OVF reader shares: the envelope namespaces it accepts and the
// InvalidOvf error it throws.
import { SourceError } from '../source-error.ts';
import { OVF09_NS } from './ovf09.ts';

export const OVF1_NS = 'http://schemas.dmtf.org/ovf/envelope/1';
export const OVF2_NS = 'http://schemas.dmtf.org/ovf/envelope/2';
export const VMW_NS = 'http://www.vmware.com/schema/ovf';
/** The envelope namespaces (OVF 1.x, 2.x, 0.9) whose elements and attributes are read. */
export const OVF_NS = [OVF1_NS, OVF2_NS, OVF09_NS];
/** OVF attributes plus VMware's extension attributes (vmw:Config key/value). */
export const ATTR_NS = [...OVF_NS, VMW_NS];

export function invalidOvf(message: string): SourceError {
  return new SourceError('InvalidOvf', `OVF descriptor: ${message}`);
}
