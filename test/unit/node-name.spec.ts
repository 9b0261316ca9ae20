import { describe, expect, it } from '@jest/globals';
import { parseAgentConfig } from '../../src/agent/agent-config.js';
import { parseAppConfig } from '../../src/config/app-config.js';
import { registerNodeSchema } from '../../src/nodes/node-protocol.schemas.js';
import { NODE_NAME_RULE, nodeNameFromHostname } from '../../src/shared/node-name.js';

const registration = (name: string) => ({
  name,
  url: 'http://127.0.0.1:3100',
  protocolVersion: 1,
  capacity: { gpus: [], vramTotalBytes: 0, ramTotalBytes: 1, cpuCount: 1, platform: 'linux', memoryBytes: 1 },
});

describe('one node name rule for the control plane, the embedded agent and the agent', () => {
  it.each(['my node', '-gpu', 'gpu/1', 'x'.repeat(201)])('refuses %j everywhere, saying what is allowed', (name) => {
    const message = `must be ${NODE_NAME_RULE}`;
    expect(() => parseAppConfig({ NODE_NAME: name })).toThrow(`NODE_NAME=${JSON.stringify(name)}: ${message}`);
    expect(() => parseAgentConfig({ NODE_NAME: name })).toThrow(`NODE_NAME=${JSON.stringify(name)}: ${message}`);
    const result = registerNodeSchema.safeParse(registration(name));
    expect(result.success ? null : result.error.issues[0]?.message).toBe(message);
  });

  it.each(['gpu-01', 'node.example.com', 'A_1'])('accepts %j everywhere', (name) => {
    expect(parseAppConfig({ NODE_NAME: name }).NODE_NAME).toBe(name);
    expect(parseAgentConfig({ NODE_NAME: name }).NODE_NAME).toBe(name);
    expect(registerNodeSchema.safeParse(registration(name)).success).toBe(true);
  });

  it('derives a valid default from any host name', () => {
    expect(nodeNameFromHostname('my laptop (2)')).toBe('my-laptop--2-');
    expect(nodeNameFromHostname('_build')).toBe('build');
    expect(nodeNameFromHostname('')).toBe('node');
  });
});
