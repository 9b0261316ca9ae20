import { describe, expect, it } from '@jest/globals';
import { AgentUrlRefused, checkAgentUrl, parseNetworks } from '../../src/nodes/agent-url-policy.js';
import { hubPathProblem } from '../../src/shared/hub-path.js';

const open = parseNetworks('');
const noDns = async (host: string): Promise<string[]> => {
  throw new Error(`unexpected lookup of ${host}`);
};

async function refusal(url: string, networks = open, resolve = noDns): Promise<string> {
  try {
    await checkAgentUrl(url, networks, resolve);
  } catch (err) {
    expect(err).toBeInstanceOf(AgentUrlRefused);
    return (err as Error).message;
  }
  throw new Error(`${url} was accepted`);
}

describe('agent URL rules', () => {
  it.each([
    'http://127.0.0.1:3100',
    'http://[::1]:3100',
    'http://10.1.2.3:3100',
    'https://192.168.1.20',
    'http://172.16.5.5:80/',
    'http://[fd12::1]:3100',
  ])('allows loopback and private LAN addresses: %s', async (url) => {
    await expect(checkAgentUrl(url, open, noDns)).resolves.toBeInstanceOf(URL);
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data', /169\.254\.169\.254: link-local .*cloud metadata/],
    ['http://169.254.1.1:3100', /link-local/],
    ['http://[fe80::1]:3100', /fe80::\/10/],
    ['http://[::ffff:169.254.169.254]:3100', /169\.254\.169\.254: link-local/],
    ['http://0.0.0.0:3100', /unspecified address \(0\.0\.0\.0\)/],
    ['http://[::]:3100', /unspecified address \(::\)/],
    ['http://224.0.0.1:3100', /multicast/],
    ['http://[ff02::1]:3100', /multicast/],
    ['ftp://10.0.0.1/', /only http and https are allowed, not ftp/],
    ['file:///etc/passwd', /only http and https/],
  ])('refuses %s naming the URL and the rule', async (url, rule) => {
    const message = await refusal(url);
    expect(message).toContain('Agent URL ');
    expect(message).toMatch(rule);
  });

  it('refuses credentials in the URL without repeating them', async () => {
    const message = await refusal('http://admin:hunter2@10.0.0.5:3100');
    expect(message).toMatch(/must not carry credentials/);
    expect(message).not.toContain('hunter2');
  });

  it('checks every address a host name resolves to', async () => {
    const metadata = async (): Promise<string[]> => ['10.0.0.7', '169.254.169.254'];
    expect(await refusal('http://metadata.internal:80', open, metadata)).toMatch(
      /metadata\.internal.*169\.254\.169\.254: link-local/,
    );
    await expect(checkAgentUrl('http://gpu-1.lan:3100', open, async () => ['192.168.1.9'])).resolves.toBeDefined();
  });

  it('AGENT_NETWORKS narrows what is allowed', async () => {
    const lan = parseNetworks('192.168.1.0/24, fd00::/8');
    await expect(checkAgentUrl('http://192.168.1.40:3100', lan, noDns)).resolves.toBeDefined();
    await expect(checkAgentUrl('http://[fd00::5]:3100', lan, noDns)).resolves.toBeDefined();
    expect(await refusal('http://127.0.0.1:3100', lan)).toMatch(
      /127\.0\.0\.1 is outside AGENT_NETWORKS \(192\.168\.1\.0\/24, fd00::\/8\)/,
    );
    // Never widened: link-local stays refused even when listed.
    expect(await refusal('http://169.254.169.254', parseNetworks('169.254.0.0/16'))).toMatch(/link-local/);
  });

  it('AGENT_NETWORKS must be CIDRs', () => {
    expect(() => parseNetworks('10.0.0.0/33')).toThrow(/"10\.0\.0\.0\/33" is not a CIDR/);
    expect(() => parseNetworks('lan')).toThrow(/"lan" is not a CIDR/);
    expect(parseNetworks(' 10.0.0.0/8 ,, 10.1.1.1 ').cidrs).toEqual(['10.0.0.0/8', '10.1.1.1']);
  });
});

describe('Hub file names', () => {
  it.each([
    ['../../etc/passwd', /"\.\." segment/],
    ['models/../../x.gguf', /"\.\." segment/],
    ['/etc/passwd', /absolute path/],
    ['C:/Windows/x.gguf', /drive letter/],
    ['c:x.gguf', /drive letter/],
    ['dir\\..\\x.gguf', /backslash/],
    ['x.gguf\0.txt', /NUL/],
    ['a//b.gguf', /empty segment/],
    ['dir/', /empty segment/],
    ['./x.gguf', /"\." segment/],
    ['', /empty/],
  ])('refuses %j', (path, rule) => {
    expect(hubPathProblem(path)).toMatch(rule);
  });

  it.each(['tiny-Q4_K_M.gguf', 'Q4_K_M/model-00001-of-00002.gguf', 'mmproj-model-f16.gguf', 'a..b.gguf'])(
    'accepts %j',
    (path) => {
      expect(hubPathProblem(path)).toBeNull();
    },
  );
});
