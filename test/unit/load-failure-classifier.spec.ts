import { describe, expect, it } from '@jest/globals';
import { classifyLoadFailure } from '../../src/agent/model-probe/model-probe.js';
import { ModelLoadError } from '../../src/shared/model-load-error.js';

const FAILED = 'Failed to load model';

describe('classifyLoadFailure', () => {
  it('a llama.cpp abort (signal or exit 134) is CORRUPTED, citing the assertion rather than what followed it', () => {
    const nativeLog = [
      'llama_model_loader: loaded meta data with 22 key-value pairs',
      '/build/llama.cpp/src/llama-model-loader.cpp:1328: GGML_ASSERT(t_meta.ne[dim] >= 1) failed',
      '/lib/libggml-base.so(+0x1234) [0x7f00]',
    ];
    const expected = {
      code: ModelLoadError.CORRUPTED,
      message:
        'llama.cpp aborted while loading: /build/llama.cpp/src/llama-model-loader.cpp:1328: GGML_ASSERT(t_meta.ne[dim] >= 1) failed',
    };
    expect(classifyLoadFailure({ signal: 'SIGABRT', exitCode: null, nativeLog })).toEqual(expected);
    expect(classifyLoadFailure({ exitCode: 134, nativeLog })).toEqual(expected);
    expect(classifyLoadFailure({ signal: 'SIGSEGV', nativeLog: [] })).toEqual({
      code: ModelLoadError.CORRUPTED,
      message: 'llama.cpp aborted while loading: signal SIGSEGV',
    });
  });

  it('a SIGKILL is the out-of-memory killer, not a broken file', () => {
    expect(classifyLoadFailure({ signal: 'SIGKILL', nativeLog: [] }).code).toBe(ModelLoadError.CONTEXT_FAILED);
  });

  it.each([
    [
      "llama_model_load: error loading model: tensor 'blk.1.attn_norm.weight' data is not within the file bounds, model is corrupted or incomplete",
    ],
    ['gguf_init_from_reader: failed to read key-value pairs'],
    [
      'llama_model_load: error loading model: error loading model hyperparameters: key not found in model: llama.context_length',
    ],
    [
      "llama_model_load: error loading model: check_tensor_dims: tensor 'output.weight' has wrong shape; expected 64, 328, got 64, 320",
    ],
    ["llama_model_load: error loading model: missing tensor 'blk.0.attn_q.weight'"],
  ])('"Failed to load model" with native log %s → CORRUPTED', (line) => {
    const verdict = classifyLoadFailure({
      errorName: 'Error',
      message: FAILED,
      nativeLog: ['noise', line],
      exitCode: 0,
    });
    expect(verdict).toEqual({ code: ModelLoadError.CORRUPTED, message: `${FAILED}: ${line}` });
  });

  it('bad magic and unknown architectures are INVALID_FORMAT', () => {
    expect(
      classifyLoadFailure({
        errorName: 'InvalidGgufMagicError',
        message: 'Invalid GGUF magic. Expected "GGUF" but got "GGUX".',
      }),
    ).toEqual({ code: ModelLoadError.INVALID_FORMAT, message: 'Invalid GGUF magic. Expected "GGUF" but got "GGUX".' });
    const unknownArch =
      "llama_model_load: error loading model: error loading model architecture: unknown model architecture: 'fancy'";
    expect(classifyLoadFailure({ errorName: 'Error', message: FAILED, nativeLog: [unknownArch] })).toEqual({
      code: ModelLoadError.INVALID_FORMAT,
      message: `${FAILED}: ${unknownArch}`,
    });
  });

  it('a missing file is FILE_NOT_FOUND', () => {
    const message = "ENOENT: no such file or directory, open '/models/x.gguf'";
    expect(classifyLoadFailure({ errorName: 'Error', errorCode: 'ENOENT', message })).toEqual({
      code: ModelLoadError.FILE_NOT_FOUND,
      message,
    });
    expect(classifyLoadFailure({ errorName: 'Error', message }).code).toBe(ModelLoadError.FILE_NOT_FOUND);
  });

  it('memory problems are CONTEXT_FAILED (never worth a re-download)', () => {
    expect(
      classifyLoadFailure({
        errorName: 'InsufficientMemoryError',
        message: 'A context size of 268435456 is too large for the available RAM',
        stage: 'context',
      }),
    ).toEqual({
      code: ModelLoadError.CONTEXT_FAILED,
      message: 'A context size of 268435456 is too large for the available RAM',
    });
    expect(
      classifyLoadFailure({
        errorName: 'Error',
        message: 'Failed to create context',
        stage: 'context',
        nativeLog: ['llama_init_from_model: failed to initialize the context: std::bad_alloc'],
      }).code,
    ).toBe(ModelLoadError.CONTEXT_FAILED);
    const cuda =
      'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 40960.00 MiB on device 0: cudaMalloc failed: out of memory';
    expect(
      classifyLoadFailure({
        errorName: 'Error',
        message: FAILED,
        stage: 'load',
        nativeLog: [cuda, 'llama_model_load: error loading model: unable to allocate CUDA0 buffer'],
      }).code,
    ).toBe(ModelLoadError.CONTEXT_FAILED);
  });

  it('anything else is UNKNOWN with the message', () => {
    expect(
      classifyLoadFailure({ errorName: 'NoBinaryFoundError', message: 'NoBinaryFoundError', stage: 'init' }),
    ).toEqual({
      code: ModelLoadError.UNKNOWN,
      message: 'NoBinaryFoundError',
    });
    expect(classifyLoadFailure({ errorName: 'Error', message: FAILED, nativeLog: [] })).toEqual({
      code: ModelLoadError.UNKNOWN,
      message: FAILED,
    });
    expect(classifyLoadFailure({ exitCode: 1, nativeLog: ['Segmentation in user code'] })).toEqual({
      code: ModelLoadError.UNKNOWN,
      message: 'the load process exited with code 1: Segmentation in user code',
    });
  });
});
