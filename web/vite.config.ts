/// <reference types="vitest/config" />
import tailwindcss from '@tailwindcss/vite';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin, type ProxyOptions } from 'vite';

/** Where `tessera serve` listens in development (`TESSERA_API` overrides). */
const api = process.env.TESSERA_API ?? 'http://127.0.0.1:8080';

const toApi: ProxyOptions = { target: api, changeOrigin: true };

/**
 * The start page (`/` goes to the library) is lazy like every page, so its code would only be
 * asked for once the main script has run. A `modulepreload` of its chunk and the chunks it
 * imports lets the browser fetch them alongside the main script instead.
 */
function preloadStartPage(module: string): Plugin {
  return {
    name: 'tessera:preload-start-page',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(_html, { bundle }) {
        if (!bundle) return;
        const chunks = Object.values(bundle).flatMap((c) => (c.type === 'chunk' ? [c] : []));
        const start = chunks.find((c) => c.facadeModuleId?.endsWith(module));
        if (!start) throw new Error(`preloadStartPage: no chunk for ${module}`);
        const entry = new Set(chunks.filter((c) => c.isEntry).flatMap((c) => [c.fileName, ...c.imports]));
        const files = new Set<string>();
        const visit = (file: string) => {
          if (files.has(file) || entry.has(file)) return;
          files.add(file);
          chunks.find((c) => c.fileName === file)?.imports.forEach(visit);
        };
        visit(start.fileName);
        return [...files].map((file) => ({
          tag: 'link',
          attrs: { rel: 'modulepreload', crossorigin: '', href: `/${file}` },
          injectTo: 'head' as const,
        }));
      },
    },
  };
}

export default defineConfig({
  plugins: [react(), tailwindcss(), preloadStartPage('/src/pages/library/LibraryPage.tsx')],
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      // The server accepts the access cookie on /api/ws only from its own origin; the proxy
      // rewrites Host (changeOrigin), so Origin must say the same or the cookie is ignored.
      '/api/ws': {
        ...toApi,
        ws: true,
        configure: (proxy) => {
          proxy.on('proxyReqWs', (proxyReq) => proxyReq.setHeader('origin', api));
        },
      },
      '/api': toApi,
      '/v1': toApi,
      '/health': toApi,
      '/ready': toApi,
    },
  },
  build: {
    target: 'es2022',
    sourcemap: true,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
    unstubGlobals: true,
    // One jsdom per worker rather than per file: a third of the time on two cores. What a test
    // leaves behind is undone after each one (src/test/setup.ts, and the mocks and globals
    // restored above).
    isolate: false,
  },
});
