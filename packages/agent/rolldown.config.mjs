/**
 * Bundles the agent into one file, `dist/regsync.mjs`, which `bin/regsync.js` runs.
 *
 * Resolving and loading the agent's 200-odd modules one by one took about 150 ms of every start;
 * the bundle loads in about 70 ms. It is built from the compiled `dist/*.js` of every workspace
 * package, so it runs the same code the tests import. Left outside: Node's own modules, `level`
 * (its native LevelDB binding is found next to the package), `pino-pretty` (loaded only for a
 * terminal), and the optional native helpers of `ws`. The polling watcher's chokidar, loaded only
 * for `--poll`, stays a separate chunk, loaded on demand.
 */
import { defineConfig } from 'rolldown'

export default defineConfig({
  input: 'dist/cli.js',
  platform: 'node',
  external: [/^node:/, 'level', 'pino-pretty', 'bufferutil', 'utf-8-validate'],
  output: {
    dir: 'dist',
    format: 'esm',
    entryFileNames: 'regsync.mjs',
    chunkFileNames: 'regsync-[name].mjs',
    sourcemap: true
  }
})
