import { readFileSync } from 'node:fs'

/**
 * The agent's version, from its package.json (one level up from both `src/` and `dist/`), so a
 * release bump cannot leave `--version`, logs and awareness saying something else.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
