#!/usr/bin/env node
// The agent as one bundled file (see rolldown.config.mjs): it starts about 80 ms sooner than the
// modules it is built from.
import { main } from '../dist/regsync.mjs'

process.exitCode = await main(process.argv.slice(2))
