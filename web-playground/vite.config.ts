// Builds the playground into `dist/`, which the server embeds in its binary
// (`server/src/playground.rs`). Everything is bundled: the pages load nothing from
// outside the server, so they work on a machine without internet.
import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const page = (name: string) => resolve(import.meta.dirname, name);

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Monaco (GraphiQL's editor) is large by nature; the server sends it once, cached as
    // immutable under its content hash.
    chunkSizeWarningLimit: 6000,
    // The bundled packages' licences, served at /licenses.md.
    license: { fileName: 'licenses.md' },
    rolldownOptions: {
      input: { ide: page('index.html'), live: page('live.html') },
      // GraphiQL's React Compiler output carries "use no memo" directives, which have no
      // meaning in a bundle; the warning about dropping them is noise.
      onLog(level, log, handler) {
        if (log.code !== 'MODULE_LEVEL_DIRECTIVE') handler(level, log);
      },
    },
  },
  worker: { format: 'es' },
  // `npm run dev` serves the sources with hot reload against a server on :8080.
  server: {
    proxy: { '/graphql': { target: 'http://127.0.0.1:8080', ws: true } },
  },
});
