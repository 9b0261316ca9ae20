import { describe, expect, it } from '@jest/globals';
import { parseAgentConfig } from '../../src/agent/agent-config.js';
import { ConfigValidationError, parseAppConfig } from '../../src/config/app-config.js';
import { formatBytes, parseByteSize } from '../../src/shared/openai/byte-size.js';

describe('V1_BODY_LIMIT', () => {
  it('defaults to 16 MiB on the control plane and on the agent', () => {
    expect(parseAppConfig({}).V1_BODY_LIMIT).toBe(16 * 1024 * 1024);
    expect(parseAgentConfig({}).V1_BODY_LIMIT).toBe(16 * 1024 * 1024);
  });

  it.each([
    ['1048576', 1024 * 1024],
    ['512kb', 512 * 1024],
    ['32MB', 32 * 1024 * 1024],
    [' 1 gb ', 1024 ** 3],
    ['2048b', 2048],
  ])('reads %j as %d bytes', (value, bytes) => {
    expect(parseByteSize(value)).toBe(bytes);
    expect(parseAppConfig({ V1_BODY_LIMIT: value }).V1_BODY_LIMIT).toBe(bytes);
  });

  it.each([
    ['lots', /must be a size in bytes, or a number with kb, mb or gb/],
    ['1.5mb', /must be a size in bytes/],
    ['-1', /must be a size in bytes/],
    ['10', /must be between 1 KiB and 1 GiB/],
    ['2gb', /must be between 1 KiB and 1 GiB/],
  ])('refuses %j, naming the variable and what is allowed', (value, message) => {
    let error: unknown;
    try {
      parseAppConfig({ V1_BODY_LIMIT: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as Error).message).toContain(`V1_BODY_LIMIT=${JSON.stringify(value)}`);
    expect((error as Error).message).toMatch(message);
    expect(() => parseAgentConfig({ V1_BODY_LIMIT: value })).toThrow(/V1_BODY_LIMIT/);
  });

  it('formats limits for messages', () => {
    expect(formatBytes(16 * 1024 * 1024)).toBe('16 MiB');
    expect(formatBytes(160 * 1024)).toBe('160 KiB');
    expect(formatBytes(1500)).toBe('1500 bytes');
  });
});
