import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// Relative base: the control plane may sit behind a reverse proxy under any path prefix.
export default defineConfig({
  root,
  base: './',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 5000,
    rollupOptions: {
      input: { index: `${root}index.html`, graphiql: `${root}graphiql.html` },
      // GraphiQL's dependencies mark modules "use client" (a React Server Components hint, meaningless here).
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
