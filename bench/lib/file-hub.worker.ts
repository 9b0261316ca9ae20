import { randomFillSync } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { FakeHub } from '../../test/support/fake-hub.js';
import { tinyGgufBuffer } from '../../test/support/tiny-gguf.js';
import type { FileHubCommand, FileHubOptions, FileHubReply } from './file-hub.js';

const port = parentPort;
if (!port) throw new Error('file-hub.worker must run in a worker thread');
const options = workerData as FileHubOptions;
const send = (reply: FileHubReply): void => port.postMessage(reply);

const BLOCK = 1024 * 1024;

/**
 * `size` bytes that no compressor or dedup shortcut makes cheap to move, generated cheaply: one random 1 MiB block
 * repeated, each copy stamped with its index every 4 KiB (so no two blocks, and no two pages, are alike).
 */
function content(size: number): Buffer {
  const random = randomFillSync(Buffer.allocUnsafe(BLOCK));
  const out = Buffer.allocUnsafeSlow(size);
  for (let at = 0, index = 0; at < size; at += BLOCK, index += 1) {
    const length = Math.min(BLOCK, size - at);
    random.copy(out, at, 0, length);
    for (let page = 0; page + 8 <= length; page += 4096) out.writeDoubleLE(index * 256 + page / 4096, at + page);
  }
  return out;
}

/**
 * A valid GGUF of `size` bytes: the tiny model, then filler after its tensor data (a header check reads up to the data's
 * end). Not one `general.padding` string of the whole size: past 512 MiB that string is longer than V8 allows, and the
 * agent's header check refuses the file (the peer-copy bench at 1 GiB).
 */
function gguf(size: number): Buffer {
  const model = tinyGgufBuffer({ seed: 1 });
  if (size <= model.length) return model;
  const out = content(size);
  model.copy(out, 0);
  return out;
}

try {
  const t0 = performance.now();
  const bytes = options.content === 'gguf' ? gguf(options.sizeBytes) : content(options.sizeBytes);
  const t1 = performance.now();
  const hub = await FakeHub.start();
  const repo = hub.addRepo({ id: options.repo, files: [{ path: options.file, content: bytes }] });
  const t2 = performance.now();
  const file = repo.files.find((f) => f.path === options.file);
  if (!file?.lfs) throw new Error(`${options.file} is not an LFS file on the fake Hub`);
  port.on('message', (cmd: FileHubCommand) => {
    switch (cmd.kind) {
      case 'requests':
        send({
          kind: 'requests',
          requests: hub.requests.slice(cmd.since).map((r) => ({ route: r.route, status: r.status, range: r.range })),
          length: hub.requests.length,
        });
        return;
      case 'throttle':
        hub.throttle(cmd.bytesPerSecond === null ? null : { bytesPerSecond: cmd.bytesPerSecond });
        send({ kind: 'throttle' });
        return;
      case 'bytes': {
        const bytesSent = hub.bytesSent();
        if (cmd.reset) hub.clearRequests();
        send({ kind: 'bytes', bytesSent });
        return;
      }
      case 'stop':
        hub.stop().then(
          () => send({ kind: 'stop' }),
          (err: unknown) => send({ kind: 'failed', error: String(err) }),
        );
        return;
    }
  });
  send({
    kind: 'started',
    url: hub.url,
    sha: repo.sha,
    size: file.size,
    sha256: file.sha256,
    generateMs: t1 - t0,
    addMs: t2 - t1,
  });
} catch (err) {
  send({ kind: 'failed', error: String(err) });
}
