/**
 * The wire protocol: y-websocket's, so that any y-websocket client with the secret can watch or
 * edit the registry.
 *
 * Every frame is binary: a varUint message type, then its body.
 *
 * - `sync` (0), then a y-protocols sync message:
 *   - `step1` (0) + state vector: "here is what I have". The receiver answers with `step2`.
 *   - `step2` (1) + update: everything the asker lacked. Receiving it means the link is synced. To
 *     an asker that holds nothing, a node sends its stored state: the updates logged after its
 *     snapshot as one `update` first, then the snapshot as the `step2`.
 *   - `update` (2) + update: a new change.
 * - `awareness` (1) + awareness update: each node's id, version, mode and address.
 * - `queryAwareness` (3): asks for the full awareness state.
 *
 * On connect each side sends `step1` and its awareness state. Reading is pure: {@link readMessage}
 * returns what a frame says and never touches a document, so the engine decides what to apply and
 * when (after persisting, for updates).
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Top-level message types of y-websocket. */
export const MessageType = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3
} as const

/** Sync sub-message types of y-protocols. */
export const SyncType = {
  step1: 0,
  step2: 1,
  update: 2
} as const

/** A decoded frame. */
export type Message =
  | { readonly kind: 'step1'; readonly stateVector: Uint8Array }
  | { readonly kind: 'step2'; readonly update: Uint8Array }
  | { readonly kind: 'update'; readonly update: Uint8Array }
  | { readonly kind: 'awareness'; readonly update: Uint8Array }
  | { readonly kind: 'queryAwareness' }
  | { readonly kind: 'auth' }

/** Decodes one frame. Throws on anything malformed, including trailing bytes. */
export function readMessage(frame: Uint8Array): Message {
  const decoder = decoding.createDecoder(frame)
  const type = decoding.readVarUint(decoder)
  let message: Message
  switch (type) {
    case MessageType.sync: {
      const syncType = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      if (syncType === SyncType.step1) message = { kind: 'step1', stateVector: payload }
      else if (syncType === SyncType.step2) message = { kind: 'step2', update: payload }
      else if (syncType === SyncType.update) message = { kind: 'update', update: payload }
      else throw new Error(`unknown sync message type ${syncType}`)
      break
    }
    case MessageType.awareness:
      message = { kind: 'awareness', update: decoding.readVarUint8Array(decoder) }
      break
    case MessageType.queryAwareness:
      message = { kind: 'queryAwareness' }
      break
    case MessageType.auth:
      // y-websocket's auth message carries a permission-denied reason; regsync authenticates
      // before the upgrade, so it has nothing to say here.
      decoding.readVarUint(decoder)
      decoding.readVarString(decoder)
      message = { kind: 'auth' }
      break
    default:
      throw new Error(`unknown message type ${type}`)
  }
  if (decoding.hasContent(decoder)) throw new Error('trailing bytes after the message')
  return message
}

/** `sync/step1` with a state vector. */
export function writeStep1(stateVector: Uint8Array): Uint8Array {
  return frame(MessageType.sync, SyncType.step1, stateVector)
}

/** `sync/step2` with an update. */
export function writeStep2(update: Uint8Array): Uint8Array {
  return frame(MessageType.sync, SyncType.step2, update)
}

/** `sync/update` with an update. */
export function writeUpdate(update: Uint8Array): Uint8Array {
  return frame(MessageType.sync, SyncType.update, update)
}

/** `awareness` with an awareness update. */
export function writeAwareness(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.awareness)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

/**
 * A sync frame, built in one buffer of its final size: a registry's step 2 is tens of MB, and an
 * encoder would copy it twice (into its own growing buffer, then into the result).
 */
function frame(type: number, syncType: number, payload: Uint8Array): Uint8Array {
  const head = encoding.createEncoder()
  encoding.writeVarUint(head, type)
  encoding.writeVarUint(head, syncType)
  encoding.writeVarUint(head, payload.byteLength)
  const prefix = encoding.toUint8Array(head)
  // Every byte is written below, so the buffer need not be zeroed first.
  const out = Buffer.allocUnsafe(prefix.byteLength + payload.byteLength)
  out.set(prefix, 0)
  out.set(payload, prefix.byteLength)
  return out
}
