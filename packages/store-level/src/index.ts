/** LevelDB storage for regsync: the {@link LevelStorageAdapter} and its options. */
export { LevelStorageAdapter } from './LevelStorageAdapter.js'
export type { LevelStorageAdapterOptions } from './LevelStorageAdapter.js'
