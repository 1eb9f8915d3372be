/** Whether an external tool is on the PATH. */
import { spawnSync } from 'node:child_process'

/** The hint printed when a baseline's tool is missing. */
export const INSTALL_HINT = 'apt-get install rsync syncthing'

/** True when `command --version` runs. */
export function toolInstalled(command: string): boolean {
  const result = spawnSync(command, ['--version'], { stdio: 'ignore', timeout: 10_000 })
  return result.error === undefined && result.status === 0
}
