import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { readMessage, writeStep1, writeStep2, writeUpdate } from '../src/protocol.js'

/** The same frame as y-websocket writes it with lib0's encoder: sync (0), the sync type, the payload. */
function reference(write: (encoder: encoding.Encoder, payload: Uint8Array) => void, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  write(encoder, payload)
  return encoding.toUint8Array(encoder)
}

/** y-protocols writes a step 1 and a step 2 from a document; these take their bytes instead. */
const writeStep1Bytes = (encoder: encoding.Encoder, stateVector: Uint8Array): void => {
  encoding.writeVarUint(encoder, syncProtocol.messageYjsSyncStep1)
  encoding.writeVarUint8Array(encoder, stateVector)
}
const writeStep2Bytes = (encoder: encoding.Encoder, update: Uint8Array): void => {
  encoding.writeVarUint(encoder, syncProtocol.messageYjsSyncStep2)
  encoding.writeVarUint8Array(encoder, update)
}

function payloadOf(length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 255
  return bytes
}

describe('sync frames', () => {
  // Lengths around the varint boundaries (1, 2 and 3 bytes of length), and a registry-sized one.
  const lengths = [0, 1, 127, 128, 16_383, 16_384, 200_000, 3_000_000]

  it('are byte for byte what y-protocols writes, and read back to the same payload', () => {
    for (const length of lengths) {
      const payload = payloadOf(length)
      // A view into a larger buffer must be framed at its own offset and length.
      const view = new Uint8Array(length + 10)
      view.set(payload, 5)
      const inner = view.subarray(5, 5 + length)

      const step1 = writeStep1(inner)
      const step2 = writeStep2(inner)
      const update = writeUpdate(inner)
      expect(Buffer.compare(step1, reference(writeStep1Bytes, payload)), `step1 of ${length}`).toBe(0)
      expect(Buffer.compare(step2, reference(writeStep2Bytes, payload)), `step2 of ${length}`).toBe(0)
      expect(Buffer.compare(update, reference(syncProtocol.writeUpdate, payload)), `update of ${length}`).toBe(0)
      // Compared as buffers: a deep equality walks a 3 MB array element by element for half a minute.
      const read = [readMessage(step1), readMessage(step2), readMessage(update)]
      expect(read.map((message) => message.kind)).toEqual(['step1', 'step2', 'update'])
      for (const message of read) {
        const bytes = message.kind === 'step1' ? message.stateVector : 'update' in message ? message.update : undefined
        expect(bytes !== undefined && Buffer.compare(bytes, payload) === 0, `${message.kind} of ${length} reads back`).toBe(true)
      }
    }
  })
})
