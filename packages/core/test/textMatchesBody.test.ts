import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { valuesEqual } from '../src/codec/canonicalJson.js'
import { canonicalText, parseDefinition } from '../src/codec/codec.js'
import { materialize } from '../src/document/materialize.js'
import { DELETED, encodeFieldKey } from '../src/document/fieldKeys.js'
import { fixBase } from '../src/document/bodyOverlay.js'
import { prng } from '../src/testing/prng.js'
import { RelayingDocs, docWithClient, sync } from './helpers/docs.js'
import {
  STAMP,
  applyChange,
  bodyIs,
  createEntry,
  entryAt,
  filesOf,
  readBody,
  readText,
  setField,
  textMatchesBody
} from '../src/document/registryDocument.js'

/** What materialize wrote before entries had stamps: the text parsed and compared every time. */
function materializeByParsing(path: string, entry: Y.Map<unknown>): string | undefined {
  const text = readText(entry)
  try {
    const parsed = parseDefinition('json', text)
    if (bodyIs(entry, 'json', parsed) || valuesEqual(parsed, readBody(entry, 'json')!)) return text
  } catch {
    // Falls through to the canonical form.
  }
  const body = readBody(entry, 'json')
  return body === undefined ? undefined : canonicalText('json', body)
}

/** Removes a top-level field of the base without touching the text, as a peer's edit of the body alone would. */
function removeField(entry: Y.Map<unknown>, name: string): void {
  fixBase(entry, 'json')
  entry.set(encodeFieldKey(['', name]), DELETED)
}

/** Records each update a document makes, to hand on later, one by one. */
function recordUpdates(doc: Y.Doc): Uint8Array[] {
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  return updates
}

function put(doc: Y.Doc, path: string, text: string): void {
  const files = filesOf(doc)
  const definition = parseDefinition('json', text)
  doc.transact(() => {
    const entry = entryAt(files, path)
    if (entry === undefined) createEntry(files, path, text)
    else applyChange(entry, 'json', undefined, definition, text)
  })
}

describe('an entry stamp', () => {
  const PATH = 'A-1.json'
  const TEXT = '{\n  // kept\n  "@class": "org.apereo.cas.services.CasRegisteredService",\n  "name": "A", "id": 1,\n  "policy": { "enabled": true, "order": 2 }\n}\n'

  it('lets a receiving node write the author text without parsing it', () => {
    const author = docWithClient(1)
    const receiver = docWithClient(2)
    put(author, PATH, TEXT)
    sync(author, receiver)
    const entry = entryAt(filesOf(receiver), PATH)!
    expect(typeof entry.get(STAMP)).toBe('string')
    expect(textMatchesBody(entry)).toBe(true)
    expect(materialize(PATH, entry)).toBe(TEXT)
  })

  it('no longer holds once a field changes without the text, and the canonical form is written', () => {
    const author = docWithClient(1)
    const other = docWithClient(2)
    put(author, PATH, TEXT)
    sync(author, other)
    const entry = entryAt(filesOf(other), PATH)!
    other.transact(() => setField(entry, 'json', ['policy', 'order'], parseDefinition('json', '3')))
    expect(textMatchesBody(entry)).toBe(false)
    expect(materialize(PATH, entry)).toBe(materializeByParsing(PATH, entry))
    expect(materialize(PATH, entry)).not.toBe(TEXT)
    // A removed field, on a node that did not see the change above.
    const third = docWithClient(3)
    sync(author, third)
    const entry3 = entryAt(filesOf(third), PATH)!
    third.transact(() => removeField(entry3, 'name'))
    expect(textMatchesBody(entry3)).toBe(false)
    expect(materialize(PATH, entry3)).toBe(materializeByParsing(PATH, entry3))
  })

  it('no longer holds once only the text changes', () => {
    const author = docWithClient(1)
    const other = docWithClient(2)
    put(author, PATH, TEXT)
    sync(author, other)
    const entry = entryAt(filesOf(other), PATH)!
    other.transact(() => (entry.get('text') as Y.Text).insert(0, '// added by hand\n'))
    expect(textMatchesBody(entry)).toBe(false)
    expect(materialize(PATH, entry)).toBe('// added by hand\n' + TEXT)
    // Until its first edit an entry's text is its body, so a hand edit of a value is an edit.
    const third = docWithClient(3)
    sync(author, third)
    const entry3 = entryAt(filesOf(third), PATH)!
    const at = TEXT.indexOf('"A"') + 1
    const replaceName = (doc: Y.Doc, entry: Y.Map<unknown>, value: string): void =>
      doc.transact(() => {
        const text = entry.get('text') as Y.Text
        text.delete(at, 1)
        text.insert(at, value)
      })
    replaceName(third, entry3, 'Z')
    expect(materialize(PATH, entry3)).toBe(TEXT.replace('"A"', '"Z"'))
    // Once edited, the entry has a base of its own: the same length, another value, and the text
    // no longer parses to the body.
    const fourth = docWithClient(4)
    sync(author, fourth)
    put(fourth, PATH, TEXT.replace('"order": 2', '"order": 3'))
    const entry4 = entryAt(filesOf(fourth), PATH)!
    replaceName(fourth, entry4, 'Z')
    expect(textMatchesBody(entry4)).toBe(false)
    expect(materialize(PATH, entry4)).toBe(materializeByParsing(PATH, entry4))
    expect(materialize(PATH, entry4)).not.toContain('"Z"')
  })

  it('does not hold on a node that has the stamp but not a change its author had seen', () => {
    // p creates; q changes a field without the text (a restored journal value), which gives the
    // entry its base; r, having seen q's change, edits another field through its file and stamps.
    // s has p's state and then only r's update: it lacks the base q wrote, an item r's stamp counts.
    const p = docWithClient(10)
    const q = docWithClient(20)
    const r = docWithClient(30)
    const s = docWithClient(40)
    put(p, PATH, TEXT)
    sync(p, q)
    sync(p, s)
    const qEntry = entryAt(filesOf(q), PATH)!
    q.transact(() => setField(qEntry, 'json', ['name'], 'B'))
    sync(q, r)
    const rUpdates = recordUpdates(r)
    put(r, PATH, TEXT.replace('"A"', '"B"').replace('"order": 2', '"order": 5'))
    expect(textMatchesBody(entryAt(filesOf(r), PATH)!)).toBe(true)
    for (const update of rUpdates) Y.applyUpdate(s, update)
    const entry = entryAt(filesOf(s), PATH)!
    expect(entry.get('base')).toBeUndefined()
    expect(entry.get(STAMP)).toBe(entryAt(filesOf(r), PATH)!.get(STAMP))
    expect(textMatchesBody(entry)).toBe(false)
    expect(materialize(PATH, entry)).toBe(materializeByParsing(PATH, entry))
    // Once q's change arrives too, the stamp holds again.
    sync(q, s)
    expect(textMatchesBody(entry)).toBe(true)
    expect(materialize(PATH, entry)).toBe(readText(entryAt(filesOf(r), PATH)!))
  })

  it('is not set when the text does not parse to the merged body', () => {
    const author = docWithClient(1)
    const other = docWithClient(2)
    put(author, PATH, TEXT)
    sync(author, other)
    // other changes order; author, not having seen it, changes name from its own base.
    const entry = entryAt(filesOf(other), PATH)!
    other.transact(() => setField(entry, 'json', ['policy', 'order'], parseDefinition('json', '3')))
    sync(other, author)
    const authorEntry = entryAt(filesOf(author), PATH)!
    const next = TEXT.replace('"A"', '"C"')
    const before = authorEntry.get(STAMP)
    author.transact(() => applyChange(authorEntry, 'json', parseDefinition('json', TEXT), parseDefinition('json', next), next))
    expect(authorEntry.get(STAMP)).toBe(before)
    expect(textMatchesBody(authorEntry)).toBe(false)
    expect(materialize(PATH, authorEntry)).toBe(materializeByParsing(PATH, authorEntry))
  })
})

// ---------------------------------------------------------------------------------------------------
// Seeded random histories. A failure names its seed; set REGSYNC_TEST_SEED to replay it alone.

const REPLAY = process.env.REGSYNC_TEST_SEED
const SEEDS = REPLAY !== undefined ? [Number(REPLAY)] : [...Array.from({ length: 30 }, (_, i) => i + 1), Date.now() % 1_000_000_007]
const STEPS = 120
const PATHS = ['a.json', 'b.json']
const NAMES = ['A', 'B', 'C']

describe(`an entry stamp, in seeded random histories of three nodes (seeds ${SEEDS[0]}..${SEEDS.at(-1)})`, () => {
  it('never says the text matches the body when parsing says otherwise', () => {
    let fast = 0
    let stale = 0
    for (const seed of SEEDS) {
      try {
        const counts = randomHistory(seed)
        fast += counts.fast
        stale += counts.stale
      } catch (error) {
        throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error })
      }
    }
    // Both outcomes were exercised, so the comparison above had something to compare.
    expect(fast).toBeGreaterThan(100)
    expect(stale).toBeGreaterThan(100)
  })
})

function randomHistory(seed: number): { fast: number; stale: number } {
  const random = prng(seed)
  const int = (below: number): number => Math.floor(random() * below)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!
  const mesh = new RelayingDocs([1, 2, 3].map((client) => client * 1000 + (seed % 997)))
  const docs = mesh.docs
  const randomText = (): string => {
    const value = {
      '@class': 'org.apereo.cas.services.CasRegisteredService',
      name: pick(NAMES),
      ...(random() < 0.5 ? { id: int(3) } : {}),
      policy: random() < 0.7 ? { enabled: random() < 0.5, ...(random() < 0.5 ? { order: int(3) } : {}) } : 'none'
    }
    const text = JSON.stringify(value, null, pick([0, 2]))
    return random() < 0.3 ? `// note ${int(3)}\n${text}` : text
  }
  let fast = 0
  let stale = 0
  for (let step = 0; step < STEPS; step++) {
    const doc = pick(docs)
    const files = filesOf(doc)
    const path = pick(PATHS)
    const entry = entryAt(files, path)
    const roll = int(11)
    if (roll < 3 || entry === undefined) {
      put(doc, path, randomText())
    } else if (roll === 3) {
      doc.transact(() => setField(entry, 'json', pick([['name'], ['policy', 'order'], ['policy', 'enabled']]), pick(NAMES)))
    } else if (roll === 4) {
      doc.transact(() => removeField(entry, pick(['name', 'id', 'policy'])))
    } else if (roll === 5) {
      doc.transact(() => files.delete(path))
    } else if (roll === 6) {
      // One character replaced by hand: in a comment, a value, or the syntax.
      const text = entry.get('text') as Y.Text
      const at = int(text.length)
      doc.transact(() => {
        text.delete(at, 1)
        text.insert(at, pick(['A', 'B', '1', ' ', '"']))
      })
    } else {
      // Hand on some of one node's pending updates to another, in any order.
      const from = int(docs.length)
      const to = (from + 1 + int(docs.length - 1)) % docs.length
      mesh.handOn(from, to, int(mesh.pending(from, to) + 1), (left) => int(left))
    }
    for (const [index, each] of docs.entries()) {
      for (const path of PATHS) {
        const current = entryAt(filesOf(each), path)
        if (current === undefined) continue
        const expected = materializeByParsing(path, current)
        if (textMatchesBody(current)) {
          fast++
          expect(readText(current), `step ${step}, node ${index}, ${path}: stamped text`).toBe(expected)
        } else if (typeof current.get(STAMP) === 'string') {
          stale++
        }
        expect(materialize(path, current), `step ${step}, node ${index}, ${path}`).toBe(expected)
      }
    }
  }
  // Everything handed on: the nodes agree, and so do their files.
  for (const from of docs) for (const to of docs) if (from !== to) sync(from, to)
  for (const path of PATHS) {
    const texts = docs.map((doc) => {
      const entry = entryAt(filesOf(doc), path)
      return entry === undefined ? undefined : materialize(path, entry)
    })
    expect(new Set(texts).size, `${path} after a full sync`).toBe(1)
  }
  return { fast, stale }
}
