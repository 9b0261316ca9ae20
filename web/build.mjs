// Builds the dashboard into dist/web: typed operations (codegen), a type check, then vite. Skipped when nothing it is
// built from changed since the last build (web/, schema.gql, package-lock.json), so `npm run build` stays quick for
// server-only work.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'web');
const stampFile = join(out, '.build-stamp');
const force = process.argv.includes('--force');

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (path === join(root, 'web', 'src', 'gql')) return [];
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const hash = createHash('sha256');
for (const f of [...files(join(root, 'web')), join(root, 'schema.gql'), join(root, 'package-lock.json')].sort()) {
  hash.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
}
const stamp = hash.digest('hex');

if (
  !force &&
  existsSync(stampFile) &&
  readFileSync(stampFile, 'utf8') === stamp &&
  existsSync(join(out, 'index.html'))
) {
  console.log('dashboard: up to date (dist/web)');
  process.exit(0);
}

const bin = (name) => join(root, 'node_modules', '.bin', name);
for (const [cmd, args] of [
  [bin('graphql-codegen'), ['--config', 'web/codegen.yml', '--silent']],
  [bin('tsc'), ['-p', 'web/tsconfig.json']],
  [bin('vite'), ['build', '--config', 'web/vite.config.ts', '--logLevel', 'warn']],
]) {
  const run = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
writeFileSync(stampFile, stamp);
console.log('dashboard: built into dist/web');
