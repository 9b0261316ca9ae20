import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The built dashboard (`npm run build` writes it to dist/web). From dist/src/web (the built server) or src/web (the
 * server under ts-jest), the same folder.
 */
export function webDistDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.split(/[\\/]/).includes('dist') ? resolve(here, '../../..') : resolve(here, '../..');
  return join(root, 'dist', 'web');
}
