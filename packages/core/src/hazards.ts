import { isDefinitionRoot } from './codec/codec.js'
import type { Definition } from './document/registryDocument.js'
import type { Logger } from './ports/Logger.js'
import { isNumberValue, isTaggedValue } from './value.js'

/**
 * Warns about files CAS will treat differently from what their author may expect: a root that is
 * not an object (CAS skips it), and a `Name-ID` file name whose id differs from the id inside (CAS
 * deletes the name it computes, so a delete in CAS would leave this file behind).
 */
export function warnOnHazards(path: string, definition: Definition, log: Logger): void {
  if (!isDefinitionRoot(definition)) {
    log.warn({ path }, `${path}: the root is not an object, so CAS will not load it; regsync mirrors it anyway`)
    return
  }
  const match = /-(\d+)\.(json|ya?ml)$/i.exec(path)
  if (match === null) return
  const body = definition instanceof Map ? definition : isTaggedValue(definition) && definition.value instanceof Map ? definition.value : undefined
  const id = body?.get('id')
  const idText = id !== undefined && isNumberValue(id) ? id.text : typeof id === 'string' ? id : undefined
  if (idText !== undefined && idText !== match[1]) {
    log.warn(
      { path, fileId: match[1], id: idText },
      `${path}: the file name says id ${match[1]} but the definition has id ${idText}; CAS deletes by the computed name, so a delete in CAS may leave this file behind`
    )
  }
}
