import { describe, expect, it } from 'vitest'
import { parseDefinition } from '../src/codec/codec.js'
import { changedLeaves, chooseMergeBase } from '../src/reconcile/staleWrite.js'
import { BaseHistory } from '../src/reconcile/BaseHistory.js'
import type { Value } from '../src/value.js'

const json = (text: string): Value => parseDefinition('json', text)
const v1 = json('{ "@class": "S", "id": 1, "description": "one", "policy": { "@class": "P", "enabled": true, "order": 1 } }')
// A peer changed the policy's order.
const v2 = json('{ "@class": "S", "id": 1, "description": "one", "policy": { "@class": "P", "enabled": true, "order": 2 } }')

describe('choosing the merge base of a local write', () => {
  it('counts changed leaves through nested objects', () => {
    expect(changedLeaves(v1, v1)).toBe(0)
    expect(changedLeaves(v1, v2)).toBe(1)
    expect(changedLeaves(v1, json('{ "@class": "S", "id": 1 }'))).toBe(2)
  })

  it('takes the older version a write was made from, and the current one otherwise', () => {
    const staleEdit = json('{ "@class": "S", "id": 1, "description": "edited", "policy": { "@class": "P", "enabled": true, "order": 1 } }')
    expect(chooseMergeBase(v2, () => [v1], staleEdit)).toEqual({ base: v1, stale: true })
    const currentEdit = json('{ "@class": "S", "id": 1, "description": "edited", "policy": { "@class": "P", "enabled": true, "order": 2 } }')
    expect(chooseMergeBase(v2, () => [v1], currentEdit)).toEqual({ base: v2, stale: false })
    // Exactly an older version: meant, not stale. And a tie keeps the current base.
    expect(chooseMergeBase(v2, () => [v1], v1)).toEqual({ base: v2, stale: false })
    const tie = json('{ "@class": "S", "id": 1, "description": "one", "policy": { "@class": "P", "enabled": true, "order": 3 } }')
    expect(chooseMergeBase(v2, () => [v1], tie)).toEqual({ base: v2, stale: false })
  })

  it('remembers a few bases per path for a while', () => {
    let now = 0
    const history = new BaseHistory(1000, 2, () => now)
    history.retire('a.json', 'one')
    history.retire('a.json', 'two')
    history.retire('a.json', 'three')
    expect(history.older('a.json')).toEqual(['three', 'two'])
    now = 2000
    expect(history.older('a.json')).toEqual([])
    history.retire('b.json', 'x')
    history.forget('b.json')
    expect(history.older('b.json')).toEqual([])
  })
})
