/**
 * Test support for regsync ports: in-memory fakes and the acceptance suites every adapter runs.
 * Importing this entry point needs vitest, an optional peer dependency.
 */
export { MemoryStorageAdapter } from './MemoryStorageAdapter.js'
export { runStorageAdapterTests } from './storageAdapterTests.js'
export type { StorageAdapterTestContext } from './storageAdapterTests.js'
export { prng } from './prng.js'
