// vSphere faults inside what node-soap throws (transport failures: ../transport-errors.ts),
// without ever carrying the request (it holds the password on Login and the session cookie on
// every call) into our errors.
import { child, isNode, xsiType } from './soap-values.ts';

/** A vSphere fault from a SOAP Fault response: `name` is the fault type (e.g. InvalidLogin). */
export interface VimFault {
  name: string;
  message: string;
}

export function vimFaultOf(err: unknown): VimFault | undefined {
  const fault = child(child(child(child(err, 'root'), 'Envelope'), 'Body'), 'Fault');
  if (!isNode(fault)) return undefined;
  const message = typeof fault.faultstring === 'string' ? fault.faultstring : '';
  const detail = fault.detail;
  let name = 'Fault';
  if (isNode(detail)) {
    for (const [key, value] of Object.entries(detail)) {
      if (key === 'attributes') continue;
      name = xsiType(value) ?? key.replace(/Fault$/, '');
      break;
    }
  }
  return { name, message };
}
