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
