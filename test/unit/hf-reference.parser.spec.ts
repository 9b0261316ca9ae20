import { describe, expect, it } from '@jest/globals';
import { parseHfReference } from '../../src/registry/hf-reference.parser.js';
import { RegistryError, RegistryErrorReason } from '../../src/registry/registry.errors.js';

const HUB = 'https://huggingface.co';
const parse = (input: string, hub = HUB) => parseHfReference(input, hub);

function reasonOf(input: string, hub = HUB): RegistryErrorReason {
  try {
    parse(input, hub);
  } catch (err) {
    if (err instanceof RegistryError) return err.reason;
    throw err;
  }
  throw new Error(`"${input}" was accepted`);
}

describe('parseHfReference', () => {
  it('accepts org/repo', () => {
    expect(parse('bartowski/Llama-3.2-1B-Instruct-GGUF')).toEqual({
      repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF',
      revision: null,
      filename: null,
    });
  });

  it('accepts repo URLs with and without scheme, on huggingface.co and hf.co', () => {
    for (const input of [
      'https://huggingface.co/Qwen/Qwen3-8B-GGUF',
      'https://huggingface.co/Qwen/Qwen3-8B-GGUF/',
      'huggingface.co/Qwen/Qwen3-8B-GGUF',
      'https://hf.co/Qwen/Qwen3-8B-GGUF',
      'https://huggingface.co/Qwen/Qwen3-8B-GGUF?library=llama-cpp',
    ]) {
      expect(parse(input)).toEqual({ repo: 'Qwen/Qwen3-8B-GGUF', revision: null, filename: null });
    }
  });

  it('reads the revision of a /tree/ URL', () => {
    expect(parse('https://huggingface.co/org/repo/tree/v1.0')).toEqual({
      repo: 'org/repo',
      revision: 'v1.0',
      filename: null,
    });
  });

  it('reads revision and file of /blob/ and /resolve/ URLs, nested paths included', () => {
    expect(parse('https://huggingface.co/org/repo/blob/main/model-Q4_K_M.gguf')).toEqual({
      repo: 'org/repo',
      revision: 'main',
      filename: 'model-Q4_K_M.gguf',
    });
    expect(parse('https://huggingface.co/org/repo/resolve/abc123/sub/dir/model.gguf?download=true')).toEqual({
      repo: 'org/repo',
      revision: 'abc123',
      filename: 'sub/dir/model.gguf',
    });
  });

  it('keeps an encoded revision like refs/pr/1 whole', () => {
    expect(parse('https://huggingface.co/org/repo/blob/refs%2Fpr%2F1/m.gguf')).toEqual({
      repo: 'org/repo',
      revision: 'refs/pr/1',
      filename: 'm.gguf',
    });
  });

  it('accepts the host of HF_ENDPOINT (a mirror or the local test Hub)', () => {
    expect(parse('http://127.0.0.1:4567/org/repo', 'http://127.0.0.1:4567')).toEqual({
      repo: 'org/repo',
      revision: null,
      filename: null,
    });
  });

  it('refuses other hosts and schemes', () => {
    expect(reasonOf('https://example.com/org/repo')).toBe(RegistryErrorReason.UNSUPPORTED_HOST);
    expect(reasonOf('https://huggingface.co.evil.com/org/repo')).toBe(RegistryErrorReason.UNSUPPORTED_HOST);
    expect(reasonOf('ftp://huggingface.co/org/repo')).toBe(RegistryErrorReason.UNSUPPORTED_HOST);
  });

  it('refuses paths that escape the repository', () => {
    for (const input of [
      'https://huggingface.co/org/repo/blob/main/../../other/repo/x.gguf',
      'https://huggingface.co/org/repo/resolve/main/%2e%2e/x.gguf',
      'org/repo/blob/main/../x.gguf',
      '/etc/passwd',
      'https://huggingface.co/org/repo/blob/main/a%2F..%2Fb.gguf',
    ]) {
      expect(reasonOf(input)).toBe(RegistryErrorReason.PATH_ESCAPES_REPO);
    }
  });

  it('refuses what is not a model repository reference, naming why', () => {
    expect(() => parse('')).toThrow(/is empty/);
    expect(() => parse('justaname')).toThrow(/org\/repo/);
    expect(() => parse('https://huggingface.co/datasets/org/data')).toThrow(/datasets/);
    expect(() => parse('https://huggingface.co/org/repo/commits/main')).toThrow(/unexpected path segment "commits"/);
    expect(() => parse('org/re po')).toThrow(/whitespace/);
    expect(() => parse('org/-bad-')).toThrow(/not a valid repository name/);
    expect(reasonOf('https://huggingface.co/org/repo/blob/main')).toBe(RegistryErrorReason.INVALID_REFERENCE);
  });
});
