/**
 * Progress on the terminal: a bar redrawn in place on a TTY, plain lines otherwise (CI logs, pipes),
 * where a step prints only when it starts and when it ends.
 */

/** Renders progress on a stream. */
export class Progress {
  readonly #stream: NodeJS.WriteStream
  readonly #tty: boolean
  #prefix = ''
  #bar = ''
  #lastLabel = ''

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream
    this.#tty = stream.isTTY === true && process.env.CI === undefined
  }

  /** Sets what the bar is about (`[2/7] edit-latency`). */
  phase(prefix: string): void {
    this.#prefix = prefix
    this.#lastLabel = ''
    this.#clear()
    this.#bar = ''
  }

  /** A line of text, above the bar. */
  line(message: string): void {
    this.#clear()
    this.#stream.write(`${this.#prefix} ${message}\n`)
    this.#draw()
  }

  /** Where a step stands. */
  step(label: string, done: number, total: number): void {
    if (!this.#tty) {
      if (label !== this.#lastLabel) this.#stream.write(`${this.#prefix} ${label}: 0/${total}\n`)
      else if (done === total) this.#stream.write(`${this.#prefix} ${label}: ${done}/${total}\n`)
      this.#lastLabel = label
      return
    }
    const width = 30
    const filled = total === 0 ? width : Math.round((done / total) * width)
    this.#bar = `${this.#prefix} ${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`
    this.#clear()
    this.#draw()
  }

  /** Removes the bar (before the final report). */
  done(): void {
    this.#clear()
    this.#bar = ''
  }

  #clear(): void {
    if (this.#tty && this.#bar !== '') this.#stream.write('\r\x1b[K')
  }

  #draw(): void {
    if (this.#tty && this.#bar !== '') this.#stream.write(this.#bar.slice(0, (this.#stream.columns ?? 120) - 1))
  }
}
