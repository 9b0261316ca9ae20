import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The matrix benchmark page (bench/dashboard.bench.ts), built apart from the app so it never ships in dist/web.
export default defineConfig({
  root: fileURLToPath(new URL('./bench', import.meta.url)),
  base: './',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic' } },
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/web-bench', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 5000,
    rollupOptions: { input: fileURLToPath(new URL('./bench/matrix.html', import.meta.url)) },
  },
});
