import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** A parsed AGENT_NETWORKS: the CIDRs as written (for messages) and a matcher. */
export interface AgentNetworks {
  cidrs: string[];
  list: BlockList | null;
}

/** Addresses an agent URL may never point at, whatever AGENT_NETWORKS says: each with the rule it breaks. */
const FORBIDDEN: Array<{ cidr: string; rule: string }> = [
  {
    cidr: '169.254.0.0/16',
    rule: 'link-local addresses (169.254.0.0/16, where cloud metadata lives) are never allowed',
  },
  { cidr: 'fe80::/10', rule: 'link-local addresses (fe80::/10) are never allowed' },
  { cidr: '0.0.0.0/8', rule: 'the unspecified address (0.0.0.0) is never allowed' },
  { cidr: '::/128', rule: 'the unspecified address (::) is never allowed' },
  { cidr: '224.0.0.0/4', rule: 'multicast addresses (224.0.0.0/4) are never allowed' },
  { cidr: 'ff00::/8', rule: 'multicast addresses (ff00::/8) are never allowed' },
  { cidr: '255.255.255.255/32', rule: 'the broadcast address is never allowed' },
  { cidr: 'fd00:ec2::254/128', rule: 'the cloud metadata address (fd00:ec2::254) is never allowed' },
];

const forbidden = FORBIDDEN.map(({ cidr, rule }) => ({ rule, list: blockListOf([cidr]) }));

/** `AGENT_NETWORKS`: comma-separated CIDRs (`10.0.0.0/8, 192.168.1.0/24, fd00::/8`); a bare address is a /32 or /128. */
export function parseNetworks(value: string): AgentNetworks {
  const cidrs = value
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  return { cidrs, list: cidrs.length ? blockListOf(cidrs) : null };
}

function blockListOf(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', prefixText, extra] = cidr.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new Error(`"${cidr}" is not a CIDR like 10.0.0.0/8 or fd00::/8`);
    }
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

export class AgentUrlRefused extends Error {
  constructor(
    readonly url: string,
    readonly rule: string,
  ) {
    super(`Agent URL ${url} is refused: ${rule}`);
  }
}

/**
 * Checks the URL where the control plane will reach an agent: http(s), no credentials, and an address that is not
 * link-local (cloud metadata), unspecified or multicast, inside AGENT_NETWORKS when set. Host names are resolved and
 * every address they resolve to must pass. Loopback and private LAN ranges are allowed (a one-machine fleet).
 */
export async function checkAgentUrl(
  raw: string,
  networks: AgentNetworks,
  resolve: (host: string) => Promise<string[]> = resolveAll,
): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AgentUrlRefused(raw, 'it is not a URL');
  }
  // The URL as shown in errors never carries the credentials it may hold.
  const shown = url.username || url.password ? `${url.protocol}//***@${url.host}${url.pathname}` : raw;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AgentUrlRefused(shown, `only http and https are allowed, not ${url.protocol.replace(':', '')}`);
  }
  if (url.username || url.password) {
    throw new AgentUrlRefused(shown, 'it must not carry credentials (user:password@); agents authenticate with tokens');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      throw new AgentUrlRefused(shown, `its host ${host} does not resolve (${(err as Error).message})`);
    }
    if (addresses.length === 0) throw new AgentUrlRefused(shown, `its host ${host} does not resolve`);
  }
  for (const address of addresses) checkAddress(shown, address, networks);
  return url;
}

function checkAddress(shown: string, raw: string, networks: AgentNetworks): void {
  const address = unmapped(raw);
  const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  for (const { rule, list } of forbidden) {
    if (list.check(address, type)) throw new AgentUrlRefused(shown, `${address}: ${rule}`);
  }
  if (networks.list && !networks.list.check(address, type)) {
    throw new AgentUrlRefused(shown, `${address} is outside AGENT_NETWORKS (${networks.cidrs.join(', ')})`);
  }
}

/** `::ffff:169.254.169.254` (or `::ffff:a9fe:a9fe`) is the IPv4 address it wraps. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(.+)$/i.exec(address);
  if (!mapped) return address;
  const rest = mapped[1]!;
  if (isIP(rest) === 4) return rest;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(rest);
  if (!hex) return address;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

async function resolveAll(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}
