import { describe, expect, it } from 'vitest'
import { RecentUpdates } from '../src/RecentUpdates.js'

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values)

describe('RecentUpdates', () => {
  it('knows an update it has seen by its bytes, not by its array', () => {
    const recent = new RecentUpdates()
    expect(recent.seen(bytes(1, 2, 3))).toBe(false)
    expect(recent.seen(bytes(1, 2, 3))).toBe(true)
    expect(recent.seen(bytes(1, 2, 4))).toBe(false)
    expect(recent.seen(bytes(1, 2))).toBe(false)
    // A view into a larger buffer is read at its own offset and length.
    expect(recent.seen(new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4))).toBe(true)
  })

  it('forgets the oldest digest beyond its capacity', () => {
    const recent = new RecentUpdates(3)
    for (const value of [1, 2, 3, 4]) expect(recent.seen(bytes(value))).toBe(false)
    expect(recent.size).toBe(3)
    expect(recent.seen(bytes(1))).toBe(false)
    expect(recent.seen(bytes(3))).toBe(true)
    expect(recent.seen(bytes(4))).toBe(true)
  })

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RecentUpdates(0)).toThrow(RangeError)
    expect(() => new RecentUpdates(1.5)).toThrow(RangeError)
  })
})
