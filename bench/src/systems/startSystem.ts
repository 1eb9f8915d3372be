/** Starts a system by name, with the run's options. */
import type { RunOptions } from '../scenario.js'
import { RegsyncInProcess } from './RegsyncInProcess.js'
import { RegsyncProcesses } from './RegsyncProcesses.js'
import type { RegsyncProcessOptions } from './RegsyncProcesses.js'
import { RsyncSystem } from './RsyncSystem.js'
import { SyncthingSystem } from './SyncthingSystem.js'
import { YWebsocketSystem } from './YWebsocketSystem.js'
import type { SyncSystem, SystemName, SystemSetup } from './SyncSystem.js'

/** Extra knobs some scenarios need. */
export interface StartExtras {
  /** Syncthing: devices configured for a later `join`. */
  readonly spare?: number
  readonly regsync?: RegsyncProcessOptions
}

/** Starts `name`; throws `SystemUnavailable` when its tool is missing. */
export async function startSystem(name: SystemName, setup: SystemSetup, options: RunOptions, extras: StartExtras = {}): Promise<SyncSystem> {
  switch (name) {
    case 'regsync':
      return options.cluster === 'processes'
        ? RegsyncProcesses.start(setup, {
            ...extras.regsync,
            nodeArgs: options.agentNodeArgs,
            ...(options.agentLogLevel === undefined ? {} : { agentLogLevel: options.agentLogLevel }),
            ...(options.logDir === undefined ? {} : { logDir: options.logDir })
          })
        : RegsyncInProcess.start(setup, options.watcher)
    case 'rsync':
      return RsyncSystem.start(setup, options.rsyncPeriodMs)
    case 'syncthing':
      return SyncthingSystem.start(setup, extras.spare ?? 0)
    case 'y-websocket':
      return YWebsocketSystem.start(setup)
  }
}
