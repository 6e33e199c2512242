import react from '@vitejs/plugin-react';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

// `npm run dev` proxies the API (and its streams) to a running api, so the dev server is
// same-origin for the browser and the api's cookies just work.
const api = process.env.SWITCHYARD_API ?? 'http://127.0.0.1:8080';

/** Writes a `.gz` beside each compressible build output; the api sends it to clients
 *  that accept gzip (api/src/web.rs), so the dashboard needs no compressing proxy. */
function precompress(): Plugin {
  let outDir = 'dist';
  return {
    name: 'switchyard-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    async closeBundle() {
      const walk = async (dir: string): Promise<string[]> => {
        const entries = await readdir(dir, { withFileTypes: true });
        const files = await Promise.all(
          entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)])),
        );
        return files.flat();
      };
      for (const file of await walk(outDir)) {
        if (!/\.(js|mjs|css|html|svg|json|txt|map)$/.test(file)) continue;
        if ((await stat(file)).size < 1024) continue;
        const raw = await readFile(file);
        const gz = gzipSync(raw, { level: 9 });
        if (gz.length < raw.length) await writeFile(`${file}.gz`, gz);
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), precompress()],
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/healthz': { target: api },
    },
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    rollupOptions: {
      output: {
        // React and the router change less often than the app: their own chunk stays
        // cached across deploys. Only these: a library one lazy page uses must stay in
        // that page's chunk, out of the first load.
        manualChunks(id) {
          if (/[\\/]node_modules[\\/](react|react-dom|react-router|scheduler|cookie)[\\/]/.test(id)) return 'react';
          return undefined;
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
    unstubGlobals: true,
    setupFiles: ['src/test/setup.ts'],
  },
});
