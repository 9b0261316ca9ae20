import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { DownloadSpec } from '../../src/agent/download/download.types.js';
import type { FakeHub } from './fake-hub.js';

export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export interface PublishedFile {
  spec: DownloadSpec;
  content: Buffer;
  repo: string;
  file: string;
}

let published = 0;

/** A new repo on the fake Hub holding one (LFS) file, and the spec a node gets for it from the manifest. */
export function publishFile(hub: FakeHub, dir: string, content: Buffer, file = 'model.gguf'): PublishedFile {
  published += 1;
  const repo = `org/published-${process.pid}-${published}`;
  const handle = hub.addRepo({ id: repo, files: [{ path: file, content }] });
  return {
    spec: {
      url: `${hub.url}/${repo}/resolve/${handle.sha}/${file}`,
      destPath: join(dir, `${published}-${file}`),
      size: content.length,
      sha256: sha256Hex(content),
    },
    content,
    repo,
    file,
  };
}

/** `bytes=a-b` → [a, b + 1); null for anything else. */
export function parseRangeHeader(range: string | null): [number, number] | null {
  const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
  return m ? [Number(m[1]), Number(m[2]) + 1] : null;
}
