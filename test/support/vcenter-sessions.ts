// Ends every vCenter session but our own, as an administrator does with SessionManager's
// TerminateSession (vSphere API; govmomi's simulator implements it: simulator/session_manager.go
// TerminateSession deletes the session, and the session's next call gets NotAuthenticated).
// Plain SOAP over axios: the product's WSDL subset holds only what the product calls.
import axios from 'axios';
import { XMLParser } from 'fast-xml-parser';
import { Agent } from 'node:https';

export interface VcenterEndpoint {
  /** https://host:port/sdk */
  url: string;
  username: string;
  password: string;
  caCert?: string;
}

const escapeXml = (v: string) => v.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

const envelope = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:vim25"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  isArray: (name) => name === 'sessionList',
});

/** Terminates every session of the vCenter except the one it logs in with; returns their count. */
export async function terminateVcenterSessions(endpoint: VcenterEndpoint): Promise<number> {
  const httpsAgent = new Agent({ ...(endpoint.caCert ? { ca: endpoint.caCert } : {}) });
  let cookie = '';
  const call = async (body: string) => {
    const res = await axios.post<string>(endpoint.url, envelope(body), {
      httpsAgent,
      responseType: 'text',
      headers: {
        'Content-Type': 'text/xml; charset=utf-8',
        SOAPAction: 'urn:vim25/8.0',
        ...(cookie ? { Cookie: cookie } : {}),
      },
      validateStatus: () => true,
    });
    if (res.status !== 200) throw new Error(`vCenter answered ${res.status}: ${res.data.slice(0, 300)}`);
    const setCookie = res.headers['set-cookie']?.find((c) => c.startsWith('vmware_soap_session='));
    if (setCookie) cookie = setCookie.split(';')[0]!;
    return (parser.parse(res.data) as { Envelope: { Body: Record<string, unknown> } }).Envelope.Body;
  };
  // The managed object ids of vCenter's (and the simulator's) singletons.
  const login = (await call(
    `<urn:Login><urn:_this type="SessionManager">SessionManager</urn:_this><urn:userName>${escapeXml(endpoint.username)}</urn:userName><urn:password>${escapeXml(endpoint.password)}</urn:password></urn:Login>`,
  )) as { LoginResponse: { returnval: { key: string } } };
  const own = login.LoginResponse.returnval.key;
  try {
    const props = (await call(
      '<urn:RetrievePropertiesEx><urn:_this type="PropertyCollector">propertyCollector</urn:_this><urn:specSet><urn:propSet><urn:type>SessionManager</urn:type><urn:pathSet>sessionList</urn:pathSet></urn:propSet><urn:objectSet><urn:obj type="SessionManager">SessionManager</urn:obj></urn:objectSet></urn:specSet><urn:options></urn:options></urn:RetrievePropertiesEx>',
    )) as {
      RetrievePropertiesExResponse: {
        returnval: {
          objects: { propSet: { val: { UserSession?: { key: string }[] } & Record<string, unknown> } };
        };
      };
    };
    const val = props.RetrievePropertiesExResponse.returnval.objects.propSet.val as Record<string, unknown>;
    const list = (val.UserSession ?? val) as unknown;
    const keys = (Array.isArray(list) ? list : [list])
      .map((s) => (s as { key?: string }).key)
      .filter((k): k is string => typeof k === 'string' && k !== own);
    if (keys.length)
      await call(
        `<urn:TerminateSession><urn:_this type="SessionManager">SessionManager</urn:_this>${keys.map((k) => `<urn:sessionId>${escapeXml(k)}</urn:sessionId>`).join('')}</urn:TerminateSession>`,
      );
    return keys.length;
  } finally {
    await call('<urn:Logout><urn:_this type="SessionManager">SessionManager</urn:_this></urn:Logout>').catch(
      () => undefined,
    );
    httpsAgent.destroy();
  }
}
