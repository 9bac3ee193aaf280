/// <reference types="vitest/config" />
import tailwindcss from '@tailwindcss/vite';
import react from '@vitejs/plugin-react';
import { defineConfig, type ProxyOptions } from 'vite';

/** Where `tessera serve` listens in development (`TESSERA_API` overrides). */
const api = process.env.TESSERA_API ?? 'http://127.0.0.1:8080';

const toApi: ProxyOptions = { target: api, changeOrigin: true };

export default defineConfig({
  plugins: [react(), tailwindcss()],
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
  },
});
