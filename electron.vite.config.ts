import { fileURLToPath } from 'node:url';
import { defineConfig } from 'electron-vite';
import vue from '@vitejs/plugin-vue';

const fromRoot = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  main: {
    build: {
      outDir: fromRoot('./out/main'),
      rollupOptions: {
        input: { index: fromRoot('./electron/main/index.ts') },
      },
    },
  },
  preload: {
    build: {
      outDir: fromRoot('./out/preload'),
      // Sandboxed preload scripts cannot be ES modules; bundle everything into one CJS file.
      externalizeDeps: false,
      rollupOptions: {
        input: { index: fromRoot('./electron/preload/index.ts') },
        output: {
          format: 'cjs',
          entryFileNames: '[name].cjs',
          inlineDynamicImports: true,
        },
      },
    },
  },
  renderer: {
    root: fromRoot('./renderer'),
    plugins: [vue()],
    server: { host: '127.0.0.1' },
    build: {
      outDir: fromRoot('./out/renderer'),
      rollupOptions: {
        input: { index: fromRoot('./renderer/index.html') },
      },
    },
  },
});
