/**
 * Child process of the model probe: loads one model with node-llama-cpp and reports over IPC. It runs apart because
 * llama.cpp aborts the whole process (GGML_ASSERT) on some broken files; the parent reads that from the exit signal.
 */
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import type { ProbeChildMessage, ProbeRequest, ProbeStage } from './probe-protocol.js';

/** llama.cpp's log lines reach the logger asynchronously, after the promise that failed has already rejected. */
const NATIVE_LOG_GRACE_MS = 150;

function send(message: ProbeChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

async function probe(request: ProbeRequest): Promise<void> {
  let stage: ProbeStage = 'init';
  let llama: Llama | undefined;
  let model: LlamaModel | undefined;
  let context: LlamaContext | undefined;
  try {
    llama = await getLlama({
      build: 'never',
      gpu: request.gpu,
      maxThreads: 1,
      progressLogs: false,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => void send({ type: 'log', level: String(level), message: message.trimEnd() }),
    });
    stage = 'load';
    const onGpu = llama.gpu !== false;
    const vramBefore = onGpu ? (await llama.getVramState()).used : 0;
    const started = performance.now();
    model = await llama.loadModel({ modelPath: request.modelPath });
    stage = 'context';
    context = await model.createContext({ contextSize: request.contextSize });
    const loadMs = Math.round(performance.now() - started);
    const vramBytes = onGpu ? Math.max(0, (await llama.getVramState()).used - vramBefore) : null;
    await send({ type: 'loaded', loadMs, vramBytes });
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  } catch (err) {
    await new Promise((resolve) => setTimeout(resolve, NATIVE_LOG_GRACE_MS));
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as NodeJS.ErrnoException).code;
    await send({
      type: 'failed',
      stage,
      errorName: e.constructor.name,
      errorCode: typeof code === 'string' ? code : null,
      message: e.message,
    });
  }
}

process.once('message', (message: ProbeRequest) => {
  void probe(message).finally(() => process.exit(0));
});
