// A small namespace-aware element tree on top of fast-xml-parser. fast-xml-parser keeps prefixes
// as written ("ovf:id", "rasd:ResourceType"); OVF files in the wild use different prefixes (or a
// default namespace) for the same namespaces, so every element and attribute is resolved to
// (namespace URI, local name) using the xmlns declarations in scope.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface XmlAttribute {
  ns: string;
  local: string;
  value: string;
}

export interface XmlElement {
  ns: string;
  local: string;
  attributes: XmlAttribute[];
  children: XmlElement[];
  /** Concatenated, trimmed text content directly inside this element. */
  text: string;
}

const ATTR_PREFIX = '@_';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

type OrderedNode = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: ATTR_PREFIX,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // OVF descriptors never need DOCTYPE entities; refusing them avoids entity-expansion tricks.
  processEntities: false,
});

export interface XmlLimits {
  /** Elements in the document; counted (as an upper bound) before anything is parsed. */
  maxElements: number;
  /** Nesting depth of elements. */
  maxDepth: number;
}

/**
 * Parses an XML document into its root element. Throws an Error with the parser's reason, or
 * naming the limit a document exceeds: the counts are checked with one linear scan of the text
 * before the validator and the tree (which cost tens of bytes of memory per byte of input) run.
 */
export function parseXmlTree(xml: string, limits?: XmlLimits): XmlElement {
  // No document we read needs a DTD; refusing it rules out entity tricks of every kind.
  if (/<!DOCTYPE/i.test(xml)) throw new Error('DOCTYPE declarations are not accepted');
  if (limits) checkShape(xml, limits);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new Error(`invalid XML at line ${valid.err.line}: ${valid.err.msg}`);
  }
  const nodes = parser.parse(xml) as OrderedNode[];
  const roots = convert(nodes, new Map([['xml', XML_NS]]));
  const root = roots[0];
  if (roots.length !== 1 || root === undefined)
    throw new Error('XML document must have exactly one root element');
  return root;
}

/**
 * An upper bound of the element count ("<" followed by a name character) and the nesting depth
 * ("<name" opens unless it ends with "/>", "</" closes), without a parse. Comments, CDATA and
 * attribute values holding "<" or "/>" can only make the bound larger, never hide elements.
 */
function checkShape(xml: string, { maxElements, maxDepth }: XmlLimits): void {
  let elements = 0;
  let depth = 0;
  for (let i = xml.indexOf('<'); i >= 0; i = xml.indexOf('<', i + 1)) {
    const next = xml.charCodeAt(i + 1);
    if (next === 0x2f /* / */) {
      depth--;
      continue;
    }
    if (next === 0x21 /* ! */ || next === 0x3f /* ? */) continue;
    if (++elements > maxElements) throw new Error(`the document has more than ${maxElements} elements`);
    const end = xml.indexOf('>', i);
    if (end < 0) break;
    if (xml.charCodeAt(end - 1) !== 0x2f /* / */ && ++depth > maxDepth) {
      throw new Error(`elements are nested more than ${maxDepth} deep`);
    }
  }
}

function convert(nodes: OrderedNode[], scope: Map<string, string>): XmlElement[] {
  const elements: XmlElement[] = [];
  for (const node of nodes) {
    const tag = Object.keys(node).find((k) => k !== ':@' && k !== '#text');
    if (tag === undefined) continue;
    const rawAttrs = (node[':@'] ?? {}) as Record<string, unknown>;
    const local = new Map(scope);
    const plainAttrs: [string, string][] = [];
    for (const [key, value] of Object.entries(rawAttrs)) {
      const name = key.startsWith(ATTR_PREFIX) ? key.slice(ATTR_PREFIX.length) : key;
      const text = decodeEntities(String(value));
      if (name === 'xmlns') local.set('', text);
      else if (name.startsWith('xmlns:')) local.set(name.slice('xmlns:'.length), text);
      else plainAttrs.push([name, text]);
    }
    const [prefix, localName] = splitQName(tag);
    const childNodes = (Array.isArray(node[tag]) ? node[tag] : []) as OrderedNode[];
    const text = childNodes
      .filter((c) => '#text' in c)
      .map((c) => decodeEntities(String(c['#text'])))
      .join('');
    elements.push({
      ns: local.get(prefix) ?? '',
      local: localName,
      // Unprefixed attributes have no namespace (XML Namespaces §6.2).
      attributes: plainAttrs.map(([name, value]) => {
        const [p, l] = splitQName(name);
        return { ns: p === '' ? '' : (local.get(p) ?? ''), local: l, value };
      }),
      children: convert(childNodes, local),
      text: text.trim(),
    });
  }
  return elements;
}

function splitQName(name: string): [prefix: string, local: string] {
  const i = name.indexOf(':');
  return i < 0 ? ['', name] : [name.slice(0, i), name.slice(i + 1)];
}

// With processEntities off the parser leaves the five predefined entities and character
// references as written; decode exactly those.
function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[e] ?? '';
  });
}

/** Direct children with this local name (any namespace unless `ns` is given). */
export function childrenNamed(el: XmlElement, local: string, ns?: readonly string[]): XmlElement[] {
  return el.children.filter((c) => c.local === local && (ns === undefined || ns.includes(c.ns)));
}

export function firstChild(el: XmlElement, local: string, ns?: readonly string[]): XmlElement | undefined {
  return childrenNamed(el, local, ns)[0];
}

/** Text of the first direct child with this local name, or undefined. */
export function childText(el: XmlElement, local: string): string | undefined {
  return firstChild(el, local)?.text;
}

/** All descendants (depth first, document order) with this local name. */
export function descendantsNamed(el: XmlElement, local: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (c.local === local) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

/**
 * Attribute by local name. OVF writes its attributes qualified (`ovf:id`), VMware's extension
 * elements use `vmw:key`; some generators omit the prefix. Qualified ones in the preferred
 * namespaces win over others.
 */
export function attr(el: XmlElement, local: string, preferNs: readonly string[] = []): string | undefined {
  const matches = el.attributes.filter((a) => a.local === local);
  return (matches.find((a) => preferNs.includes(a.ns)) ?? matches[0])?.value;
}
