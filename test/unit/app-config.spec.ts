import { describe, expect, it } from '@jest/globals';
import { ConfigValidationError, parseAppConfig } from '../../src/config/app-config.js';

describe('parseAppConfig', () => {
  it('gives the documented defaults', () => {
    const config = parseAppConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/llmfleet',
      REDIS_URL: 'redis://127.0.0.1:6379',
      HF_ENDPOINT: 'https://huggingface.co',
      SUPPORTED_MODELS_PATH: './supported_models.json',
      EMBEDDED_AGENT: true,
      HF_STATS_TTL_MS: 600_000,
      HF_TIMEOUT_MS: 5000,
    });
  });

  it('reads and normalises values', () => {
    const config = parseAppConfig({
      PORT: '8080',
      EMBEDDED_AGENT: 'false',
      HF_ENDPOINT: 'http://127.0.0.1:9999/',
      HF_TOKEN: 'hf_x',
    });
    expect(config).toMatchObject({
      PORT: 8080,
      EMBEDDED_AGENT: false,
      HF_ENDPOINT: 'http://127.0.0.1:9999',
      HF_TOKEN: 'hf_x',
    });
  });

  it('names every variable that is wrong, with its value', () => {
    let error: unknown;
    try {
      parseAppConfig({ PORT: '70000', DATABASE_URL: 'mysql://x/y', HF_ENDPOINT: 'not a url', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const problems = (error as ConfigValidationError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/^PORT="70000"/m);
    expect(problems.join('\n')).toMatch(
      /^DATABASE_URL="mysql:\/\/x\/y": must be a URL with scheme postgres or postgresql/m,
    );
    expect(problems.join('\n')).toMatch(/^HF_ENDPOINT="not a url"/m);
    expect(problems.join('\n')).toMatch(/^LOG_LEVEL="loud"/m);
  });
});

describe('parseAppConfig: security settings', () => {
  it('needs ADMIN_API_KEY to be at least 32 characters, and never echoes its value', () => {
    const short = 'hunter2-but-longer';
    let message = '';
    try {
      parseAppConfig({ ADMIN_API_KEY: short });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/ADMIN_API_KEY=\(hidden, 18 characters\): must be at least 32 characters/);
    expect(message).not.toContain(short);
    expect(parseAppConfig({ ADMIN_API_KEY: 'x'.repeat(32) }).ADMIN_API_KEY).toBe('x'.repeat(32));
  });

  it('reads CORS_ORIGINS as a list of origins (none by default) and refuses anything else', () => {
    expect(parseAppConfig({}).CORS_ORIGINS).toEqual([]);
    expect(parseAppConfig({ CORS_ORIGINS: 'https://a.example.com, http://b.example.com:8080/' }).CORS_ORIGINS).toEqual([
      'https://a.example.com',
      'http://b.example.com:8080',
    ]);
    expect(() => parseAppConfig({ CORS_ORIGINS: 'https://a.example.com/app' })).toThrow(
      /CORS_ORIGINS=.*"https:\/\/a.example.com\/app" is not an origin/,
    );
    expect(() => parseAppConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
  });
});
