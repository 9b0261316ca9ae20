import { describe, expect, it } from '@jest/globals';
import { quantizationOf, selectGgufFiles, type RepoFile } from '../../src/registry/gguf-file-selection.js';
import { RegistryErrorReason } from '../../src/registry/registry.errors.js';

const file = (path: string, size = 1000): RepoFile => ({ path, size, sha256: 'a'.repeat(64) });

describe('quantizationOf', () => {
  it('reads common quantization names from file names', () => {
    expect(quantizationOf('Llama-3.2-1B-Instruct-Q4_K_M.gguf')).toBe('Q4_K_M');
    expect(quantizationOf('qwen2.5-7b-instruct-q8_0.gguf')).toBe('Q8_0');
    expect(quantizationOf('model.IQ4_XS.gguf')).toBe('IQ4_XS');
    expect(quantizationOf('mmproj-model-f16.gguf')).toBe('F16');
    expect(quantizationOf('Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf')).toBe('Q4_K_M');
    expect(quantizationOf('model.gguf')).toBeNull();
  });
});

describe('selectGgufFiles', () => {
  const repoFiles = [
    file('README.md'),
    file('model-Q8_0.gguf', 8000),
    file('model-Q4_K_M.gguf', 4000),
    file('model-Q2_K.gguf', 2000),
    file('model-F16.gguf', 16000),
  ];

  it('picks Q4_K_M by preference when no file is named, and says so', () => {
    const s = selectGgufFiles('org/repo', repoFiles, null);
    expect(s.modelFiles.map((f) => f.path)).toEqual(['model-Q4_K_M.gguf']);
    expect(s.quantization).toBe('Q4_K_M');
    expect(s.note).toMatch(/Picked model-Q4_K_M\.gguf \(Q4_K_M\) among 4 GGUF variants/);
  });

  it('falls back along the preference list', () => {
    const s = selectGgufFiles('org/repo', [file('m-F16.gguf'), file('m-Q8_0.gguf'), file('m-Q2_K.gguf')], null);
    expect(s.modelFiles[0]!.path).toBe('m-Q8_0.gguf');
  });

  it('takes the named file', () => {
    expect(selectGgufFiles('org/repo', repoFiles, 'model-Q2_K.gguf').modelFiles[0]!.path).toBe('model-Q2_K.gguf');
  });

  it('treats a split GGUF as one model of several parts, in order', () => {
    const files = [
      file('big-Q4_K_M-00002-of-00003.gguf'),
      file('big-Q4_K_M-00001-of-00003.gguf'),
      file('big-Q4_K_M-00003-of-00003.gguf'),
      file('big-Q8_0.gguf'),
    ];
    const byPreference = selectGgufFiles('org/repo', files, null);
    expect(byPreference.modelFiles.map((f) => f.path)).toEqual([
      'big-Q4_K_M-00001-of-00003.gguf',
      'big-Q4_K_M-00002-of-00003.gguf',
      'big-Q4_K_M-00003-of-00003.gguf',
    ]);
    expect(selectGgufFiles('org/repo', files, 'big-Q4_K_M-00002-of-00003.gguf').modelFiles).toHaveLength(3);
  });

  it('names the missing parts of an incomplete split GGUF', () => {
    const files = [file('big-00001-of-00003.gguf'), file('big-00003-of-00003.gguf')];
    expect(() => selectGgufFiles('org/repo', files, 'big-00001-of-00003.gguf')).toThrow(
      /missing big-00002-of-00003\.gguf/,
    );
  });

  it('carries the projector of a vision model, preferring f16, never as the weights', () => {
    const files = [file('gemma-Q4_K_M.gguf'), file('mmproj-gemma-f32.gguf'), file('mmproj-gemma-f16.gguf')];
    const s = selectGgufFiles('org/repo', files, null);
    expect(s.modelFiles.map((f) => f.path)).toEqual(['gemma-Q4_K_M.gguf']);
    expect(s.projector?.path).toBe('mmproj-gemma-f16.gguf');
    expect(s.note).toMatch(/Multimodal projector: mmproj-gemma-f16\.gguf/);
  });

  it("finds a catalog vision model's projector in the repository when the catalog names none", () => {
    const files = [file('llava-v1.6-mistral-7b.Q4_K_M.gguf'), file('mmproj-model-f16.gguf'), file('README.md')];
    const s = selectGgufFiles('cjpais/llava-1.6-mistral-7b-gguf', files, 'llava-v1.6-mistral-7b.Q4_K_M.gguf', {
      vision: true,
    });
    expect(s.projector?.path).toBe('mmproj-model-f16.gguf');
    expect(s.note).toMatch(/Multimodal projector: mmproj-model-f16\.gguf, found in the repository\./);
  });

  it('registers a vision model whose repository has no projector, with a warning in the note', () => {
    const s = selectGgufFiles('org/vision', [file('vision-Q4_K_M.gguf')], 'vision-Q4_K_M.gguf', { vision: true });
    expect(s.projector).toBeNull();
    expect(s.note).toMatch(
      /Warning: this is a vision model but org\/vision has no multimodal projector \(mmproj\*\.gguf\)/,
    );
  });

  it('takes the projector the catalog names, and none for a text model', () => {
    const files = [file('m-Q4_K_M.gguf'), file('mmproj-m-f16.gguf'), file('other-mmproj.gguf')];
    const named = selectGgufFiles('org/repo', files, null, { vision: true, requested: 'other-mmproj.gguf' });
    expect(named.projector?.path).toBe('other-mmproj.gguf');
    expect(selectGgufFiles('org/repo', files, null, { vision: false }).projector).toBeNull();
    expect(() => selectGgufFiles('org/repo', files, null, { vision: true, requested: 'nope.gguf' })).toThrow(
      /File nope\.gguf does not exist in org\/repo/,
    );
  });

  it('refuses a repository without GGUF files, a non-GGUF file, a missing file, a projector as weights', () => {
    const cases: Array<[RepoFile[], string | null, RegistryErrorReason, RegExp]> = [
      [
        [file('model.safetensors'), file('config.json')],
        null,
        RegistryErrorReason.NOT_GGUF,
        /has no GGUF files \(it has \.safetensors, \.json\)/,
      ],
      [repoFiles, 'README.md', RegistryErrorReason.NOT_GGUF, /README\.md is not a GGUF file/],
      [repoFiles, 'nope.gguf', RegistryErrorReason.FILE_NOT_FOUND, /nope\.gguf does not exist in org\/repo/],
      [
        [file('m.gguf'), file('mmproj-f16.gguf')],
        'mmproj-f16.gguf',
        RegistryErrorReason.INVALID_REFERENCE,
        /projector/,
      ],
    ];
    for (const [files, requested, reason, message] of cases) {
      expect(() => selectGgufFiles('org/repo', files, requested)).toThrow(message);
      try {
        selectGgufFiles('org/repo', files, requested);
      } catch (err) {
        expect((err as { reason: string }).reason).toBe(reason);
      }
    }
  });

  it('refuses a file whose checksum the Hub does not give', () => {
    expect(() => selectGgufFiles('org/repo', [{ path: 'm.gguf', size: 1, sha256: null }], null)).toThrow(
      /no LFS sha256/,
    );
  });
});
