/**
 * Hjson, the JSON superset CAS reads every `.json` service definition with.
 *
 * CAS runs hjson-java, so this parser follows its rules rather than a general JSON parser's: `#`, `//`
 * and block comments, unquoted keys, optional and trailing commas, single-quoted strings, `'''`
 * multi-line strings, braces around the root object optional, and quoteless values. A quoteless value is
 * `true`, `false`, `null` or a number only when it stands alone before a comma, `}`, `]`, a comment or the
 * end of its line; anything else is a string that runs to the end of the line, so `10 minutes` and
 * `a, b` are strings. Numbers keep their source text: the npm `hjson` package rounds them, and CAS ids
 * can exceed 2^53.
 */
import { ErrorCodes, RegsyncError } from '../errors.js'
import { numberValue, type ObjectValue, type Value } from '../value.js'

/** Parses Hjson (and therefore strict JSON); throws a `REGSYNC_PARSE` error that names line and column. */
export function parseHjson(text: string): Value {
  return new HjsonParser(text).parseRoot()
}

/** True when `text` is a number in strict JSON grammar, the only form Hjson reads as a number. */
export function isJsonNumber(text: string): boolean {
  return JSON_NUMBER.test(text)
}

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/

const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const SPACE = 0x20
const DQUOTE = 0x22
const HASH = 0x23
const SQUOTE = 0x27
const STAR = 0x2a
const COMMA = 0x2c
const SLASH = 0x2f
const COLON = 0x3a
const LBRACKET = 0x5b
const BACKSLASH = 0x5c
const RBRACKET = 0x5d
const LBRACE = 0x7b
const RBRACE = 0x7d
const BOM = 0xfeff

/** The characters that end a run of plain string content: the closing quote, `\\` and control characters. */
const DOUBLE_QUOTED_STOP = /["\\\x00-\x1f]/g
const SINGLE_QUOTED_STOP = /['\\\x00-\x1f]/g

/** hjson-java's limit too; without it a deeply nested file would overflow the stack with a RangeError. */
const MAX_DEPTH = 1000

/** hjson-java's whitespace: exactly these four, so other control characters are errors, not blanks. */
function isWhite(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB
}

function isPunctuator(c: number): boolean {
  return c === LBRACE || c === RBRACE || c === LBRACKET || c === RBRACKET || c === COMMA || c === COLON
}

/** Java's `String.trim()`, which hjson-java applies to quoteless strings: it drops every char <= U+0020. */
function javaTrim(text: string): string {
  let start = 0
  let end = text.length
  while (start < end && text.charCodeAt(start) <= SPACE) start++
  while (end > start && text.charCodeAt(end - 1) <= SPACE) end--
  return start === 0 && end === text.length ? text : text.slice(start, end)
}

/** How a character is named in an error message. */
function describe(text: string, offset: number): string {
  if (offset >= text.length) return 'the end of the file'
  const c = text.charCodeAt(offset)
  if (c < SPACE || c === 0x7f) return `control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`
  const ch = String.fromCodePoint(text.codePointAt(offset) ?? c)
  return ch === "'" ? `"'"` : `'${ch}'`
}

class HjsonParser {
  private readonly text: string
  private readonly length: number
  private pos = 0
  private depth = 0
  /** Where the last quoteless string swallowed a `}` or `]`: the usual cause of a later "missing '}'". */
  private swallowedCloser = -1

  constructor(text: string) {
    this.text = text
    this.length = text.length
  }

  parseRoot(): Value {
    if (this.text.charCodeAt(0) === BOM) this.pos = 1
    this.skipWhite()
    if (this.pos >= this.length) throw this.fail(this.pos, 'the file is empty (only whitespace or comments)')
    const c = this.text.charCodeAt(this.pos)
    if (c === LBRACE || c === LBRACKET) return this.checkTrailing(this.value())
    // Like hjson-java: try a root object without braces first; when that fails, try a single value, and
    // when both fail, report the object's error, which is what an author of a braceless file needs.
    const start = this.pos
    try {
      return this.checkTrailing(this.object(true))
    } catch (bracelessError) {
      this.pos = start
      this.depth = 0
      try {
        return this.checkTrailing(this.value())
      } catch {
        throw bracelessError
      }
    }
  }

  private checkTrailing(value: Value): Value {
    this.skipWhite()
    if (this.pos < this.length) {
      throw this.fail(this.pos, `unexpected ${describe(this.text, this.pos)} after the end of the root value`)
    }
    return value
  }

  /** Skips whitespace and comments. */
  private skipWhite(): void {
    const text = this.text
    const length = this.length
    let i = this.pos
    while (i < length) {
      const c = text.charCodeAt(i)
      if (isWhite(c)) {
        i++
      } else if (c === HASH || (c === SLASH && text.charCodeAt(i + 1) === SLASH)) {
        const eol = text.indexOf('\n', i)
        i = eol < 0 ? length : eol + 1
      } else if (c === SLASH && text.charCodeAt(i + 1) === STAR) {
        const end = text.indexOf('*/', i + 2)
        if (end < 0) throw this.fail(i, "unterminated /* comment (no closing */ before the end of the file)")
        i = end + 2
      } else {
        break
      }
    }
    this.pos = i
  }

  private value(): Value {
    this.skipWhite()
    if (this.pos >= this.length) throw this.fail(this.pos, 'unexpected end of file (expected a value)')
    const text = this.text
    const c = text.charCodeAt(this.pos)
    switch (c) {
      case LBRACE:
        return this.object(false)
      case LBRACKET:
        return this.array()
      case DQUOTE:
        return this.quoted(DQUOTE)
      case SQUOTE:
        if (text.charCodeAt(this.pos + 1) === SQUOTE && text.charCodeAt(this.pos + 2) === SQUOTE) return this.multiline()
        return this.quoted(SQUOTE)
      default:
        return this.quoteless()
    }
  }

  private object(braceless: boolean): ObjectValue {
    const text = this.text
    const open = this.pos
    if (!braceless) this.enter()
    const map: ObjectValue = new Map()
    this.skipWhite()
    for (;;) {
      if (this.pos >= this.length) {
        if (braceless) return map
        throw this.fail(this.pos, `unexpected end of file (missing '}' to close the '{' at ${this.where(open)})${this.swallowHint(open)}`)
      }
      const c = text.charCodeAt(this.pos)
      if (c === RBRACE) {
        if (braceless) throw this.fail(this.pos, "unexpected '}' (no '{' is open here)")
        this.pos++
        this.depth--
        return map
      }
      if (c === RBRACKET) {
        if (braceless) throw this.fail(this.pos, "unexpected ']' (no '[' is open here)")
        throw this.fail(this.pos, `unexpected ']' where a key was expected (the '{' at ${this.where(open)} is still open)`)
      }
      const key = this.key()
      this.skipWhite()
      if (text.charCodeAt(this.pos) !== COLON) {
        throw this.fail(this.pos, `expected ':' after key ${JSON.stringify(key)} but found ${describe(text, this.pos)}`)
      }
      this.pos++
      // Duplicate keys: the last one wins, as in Jackson and hjson-java.
      map.set(key, this.value())
      this.skipWhite()
      if (text.charCodeAt(this.pos) === COMMA) {
        this.pos++
        this.skipWhite()
      }
    }
  }

  private array(): Value[] {
    const text = this.text
    const open = this.pos
    this.enter()
    const items: Value[] = []
    this.skipWhite()
    for (;;) {
      if (this.pos >= this.length) {
        throw this.fail(this.pos, `unexpected end of file (missing ']' to close the '[' at ${this.where(open)})${this.swallowHint(open)}`)
      }
      const c = text.charCodeAt(this.pos)
      if (c === RBRACKET) {
        this.pos++
        this.depth--
        return items
      }
      if (c === RBRACE) {
        throw this.fail(this.pos, `unexpected '}' where a value was expected (the '[' at ${this.where(open)} is still open)`)
      }
      items.push(this.value())
      this.skipWhite()
      if (text.charCodeAt(this.pos) === COMMA) {
        this.pos++
        this.skipWhite()
      }
    }
  }

  private key(): string {
    const text = this.text
    const start = this.pos
    const c = text.charCodeAt(start)
    if (c === DQUOTE || c === SQUOTE) return this.quoted(c)
    let i = start
    while (i < this.length) {
      const d = text.charCodeAt(i)
      if (d === COLON || isWhite(d)) break
      if (isPunctuator(d)) {
        if (i === start) {
          throw this.fail(i, `expected a key but found '${String.fromCharCode(d)}' (quote keys that contain {}[],: or spaces)`)
        }
        throw this.fail(i, `unexpected '${String.fromCharCode(d)}' in key "${text.slice(start, i)}" (quote keys that contain {}[],: or spaces)`)
      }
      if (d < SPACE) throw this.fail(i, `unexpected ${describe(text, i)} in a key`)
      i++
    }
    if (i === start) throw this.fail(i, "found ':' but no key before it (write an empty key as \"\")")
    this.pos = i
    return text.slice(start, i)
  }

  /** A `"` or `'` string on one line, with JSON escapes (plus `\'`). */
  private quoted(quote: number): string {
    const text = this.text
    const length = this.length
    const open = this.pos
    let i = open + 1
    let segmentStart = i
    let out = ''
    // A regex finds the next character that needs attention several times faster than a char loop.
    const stop = quote === DQUOTE ? DOUBLE_QUOTED_STOP : SINGLE_QUOTED_STOP
    for (;;) {
      stop.lastIndex = i
      i = stop.exec(text) === null ? length : stop.lastIndex - 1
      if (i >= length) {
        throw this.fail(open, `unterminated string (no closing ${quote === DQUOTE ? '"' : "'"} before the end of the file)`)
      }
      const c = text.charCodeAt(i)
      if (c === quote) {
        this.pos = i + 1
        return out === '' ? text.slice(segmentStart, i) : out + text.slice(segmentStart, i)
      }
      if (c === BACKSLASH) {
        out += text.slice(segmentStart, i)
        const e = text.charCodeAt(i + 1)
        let n = 2
        switch (e) {
          case DQUOTE: out += '"'; break
          case SQUOTE: out += "'"; break
          case BACKSLASH: out += '\\'; break
          case SLASH: out += '/'; break
          case 0x62: out += '\b'; break
          case 0x66: out += '\f'; break
          case 0x6e: out += '\n'; break
          case 0x72: out += '\r'; break
          case 0x74: out += '\t'; break
          case 0x75: {
            const hex = text.slice(i + 2, i + 6)
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
              throw this.fail(i, 'invalid \\u escape in a string (expected 4 hex digits, as in \\u00e9)')
            }
            // One UTF-16 unit per escape: a surrogate pair written as two escapes joins up by itself.
            out += String.fromCharCode(parseInt(hex, 16))
            n = 6
            break
          }
          default:
            if (i + 1 >= length || e === LF || e === CR) {
              i++ // the loop reports the unterminated string
              continue
            }
            const shown = e < SPACE ? `'\\' followed by ${describe(text, i + 1)}` : `'\\${text[i + 1] ?? ''}'`
            throw this.fail(i, `invalid escape ${shown} in a string (valid: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`)
        }
        i += n
        segmentStart = i
        continue
      }
      if (c < SPACE) {
        if (c === LF || c === CR) {
          throw this.fail(open, "unterminated string (a quoted string must end on the line it starts; use \\n, or ''' for several lines)")
        }
        // hjson-java, like JSON, rejects raw control characters (tabs too) between quotes.
        throw this.fail(i, `${describe(text, i)} inside a string (write it as an escape such as \\t or \\u0009)`)
      }
    }
  }

  /**
   * A `'''` string: no escapes, CR dropped, the indentation of the opening `'''` stripped from each line,
   * and the last line break removed, exactly as hjson-java does.
   */
  private multiline(): string {
    const text = this.text
    const open = this.pos
    const indent = open - (text.lastIndexOf('\n', open - 1) + 1)
    let i = open + 3
    while (i < this.length && isWhite(text.charCodeAt(i)) && text.charCodeAt(i) !== LF) i++
    let stripFirst = false
    if (text.charCodeAt(i) === LF) {
      i++
      stripFirst = true
    }
    const close = text.indexOf("'''", i)
    if (close < 0) throw this.fail(open, "unterminated ''' string (no closing ''' before the end of the file)")
    this.pos = close + 3
    const lines = text.slice(i, close).split('\n')
    for (let k = 0; k < lines.length; k++) {
      let line = lines[k] ?? ''
      if (k > 0 || stripFirst) {
        let skip = 0
        while (skip < indent && skip < line.length && isWhite(line.charCodeAt(skip))) skip++
        line = line.slice(skip)
      }
      lines[k] = line.includes('\r') ? line.replaceAll('\r', '') : line
    }
    const joined = lines.join('\n')
    return joined.endsWith('\n') ? joined.slice(0, -1) : joined
  }

  /** A quoteless value: a literal when it stands alone before a terminator, else a string to the end of the line. */
  private quoteless(): Value {
    const text = this.text
    const length = this.length
    const start = this.pos
    const first = text.charCodeAt(start)
    if (isPunctuator(first)) {
      throw this.fail(start, `expected a value but found '${String.fromCharCode(first)}'`)
    }
    let i = start
    for (; i < length; i++) {
      const c = text.charCodeAt(i)
      if (c === LF || c === CR || c === COMMA || c === RBRACE || c === RBRACKET || c === HASH) break
      if (c === SLASH) {
        const d = text.charCodeAt(i + 1)
        if (d === SLASH || d === STAR) break
      }
    }
    // Only the text before the first terminator can be a literal: a longer prefix contains the terminator,
    // which no literal does.
    if (first === 0x74 || first === 0x66 || first === 0x6e || first === 0x2d || (first >= 0x30 && first <= 0x39)) {
      const candidate = javaTrim(text.slice(start, i))
      if (candidate === 'true') return this.literalEnd(i, true)
      if (candidate === 'false') return this.literalEnd(i, false)
      if (candidate === 'null') return this.literalEnd(i, null)
      if (JSON_NUMBER.test(candidate)) return this.literalEnd(i, numberValue(candidate))
    }
    while (i < length) {
      const c = text.charCodeAt(i)
      if (c === LF || c === CR) break
      i++
    }
    this.pos = i
    const value = javaTrim(text.slice(start, i))
    const closer = Math.max(value.lastIndexOf('}'), value.lastIndexOf(']'))
    if (closer >= 0) this.swallowedCloser = start + closer
    return value
  }

  /** Steps into a `{` or `[`. */
  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw this.fail(this.pos, `nesting deeper than ${MAX_DEPTH} levels`)
    this.pos++
  }

  private swallowHint(open: number): string {
    if (this.swallowedCloser <= open) return ''
    return `; the quoteless value ending at ${this.where(this.swallowedCloser)} runs to the end of its line, so the ` +
      `'${this.text[this.swallowedCloser] ?? ''}' there is part of the string: quote the value or put the closer on its own line`
  }

  private literalEnd(end: number, value: Value): Value {
    this.pos = end
    return value
  }

  private where(offset: number): string {
    const { line, column } = this.lineColumn(offset)
    return `line ${line}, column ${column}`
  }

  private lineColumn(offset: number): { line: number; column: number } {
    const text = this.text
    let line = 1
    let lineStart = 0
    for (let nl = text.indexOf('\n'); nl >= 0 && nl < offset; nl = text.indexOf('\n', nl + 1)) {
      line++
      lineStart = nl + 1
    }
    // The BOM is invisible in editors, so it does not count as a column.
    const bom = lineStart === 0 && text.charCodeAt(0) === BOM && offset > 0 ? 1 : 0
    return { line, column: offset - lineStart - bom + 1 }
  }

  private fail(offset: number, reason: string): RegsyncError {
    return new RegsyncError(ErrorCodes.PARSE, `${this.where(offset)}: ${reason}`)
  }
}
