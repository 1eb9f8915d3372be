/** Which file system a directory is on, for the report: bulk and join times depend on it. */
import { statfs } from 'node:fs/promises'

/** `statfs` type numbers (linux/magic.h) of the file systems a benchmark is likely to run on. */
const NAMES = new Map<number, string>([
  [0xef53, 'ext4'],
  [0x01021994, 'tmpfs'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
  [0x2fc12fc1, 'zfs'],
  [0x65735546, 'fuse']
])

/** The name of the file system holding `path`, or its type number in hex when it is not one of the above. */
export async function fileSystemOf(path: string): Promise<string> {
  try {
    const { type } = await statfs(path)
    return NAMES.get(type) ?? `type 0x${type.toString(16)}`
  } catch {
    return 'unknown'
  }
}
