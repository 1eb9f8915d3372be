/**
 * A latency CDF as a standalone SVG: one line per system, a logarithmic time axis (regsync's
 * milliseconds and Syncthing's seconds fit one plot), the share of samples on the vertical axis.
 */

/** One line of the plot. */
export interface CdfSeries {
  readonly label: string
  readonly samplesMs: readonly number[]
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f']
const WIDTH = 720
const HEIGHT = 420
const MARGIN = { left: 64, right: 180, top: 36, bottom: 52 }
/** Steps drawn per line at most. */
const MAX_STEPS = 2000

/** Renders the plot; `title` goes on top. */
export function cdfSvg(title: string, series: readonly CdfSeries[]): string {
  const lines = series.filter((s) => s.samplesMs.length > 0)
  // A loop, not Math.min(...samples): churn over three runs has over 100,000 samples, more
  // arguments than a call can take.
  let min = 1
  let max = 10
  for (const line of lines) {
    for (const value of line.samplesMs) {
      if (value > 0 && value < min) min = value
      if (value > max) max = value
    }
  }
  min = Math.max(0.1, min)
  const lo = Math.floor(Math.log10(min))
  const hi = Math.ceil(Math.log10(max * 1.5))
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom
  const x = (ms: number): number => MARGIN.left + ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * plotW
  const y = (share: number): number => MARGIN.top + (1 - share) * plotH
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`)
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`)
  out.push(`<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`)
  for (let decade = lo; decade <= hi; decade++) {
    const px = x(10 ** decade)
    out.push(`<line x1="${px}" y1="${MARGIN.top}" x2="${px}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`)
    out.push(`<text x="${px}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${formatMs(10 ** decade)}</text>`)
  }
  for (const share of [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
    const py = y(share)
    out.push(`<line x1="${MARGIN.left}" y1="${py}" x2="${MARGIN.left + plotW}" y2="${py}" stroke="#eee"/>`)
    // 99 % sits too close to 100 % for a label of its own: it gets a line only.
    if (share !== 0.99) out.push(`<text x="${MARGIN.left - 8}" y="${py + 4}" text-anchor="end">${share * 100}%</text>`)
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`)
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">latency until every node has it (log scale)</text>`)
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">share of samples</text>`)
  lines.forEach((line, index) => {
    const color = COLORS[index % COLORS.length]!
    const sorted = [...line.samplesMs].sort((a, b) => a - b)
    // One step per sample up to MAX_STEPS; beyond, one per quantile (the plot has fewer pixels).
    const stride = Math.max(1, Math.ceil(sorted.length / MAX_STEPS))
    const points: string[] = [`${x(sorted[0]!).toFixed(1)},${y(0).toFixed(1)}`]
    for (let i = 0; i < sorted.length; i += stride) {
      const last = Math.min(i + stride, sorted.length) - 1
      points.push(`${x(sorted[last]!).toFixed(1)},${y(i / sorted.length).toFixed(1)}`)
      points.push(`${x(sorted[last]!).toFixed(1)},${y((last + 1) / sorted.length).toFixed(1)}`)
    }
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`)
    const ly = MARGIN.top + 14 + index * 20
    out.push(`<line x1="${WIDTH - MARGIN.right + 14}" y1="${ly - 4}" x2="${WIDTH - MARGIN.right + 34}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`)
    out.push(`<text x="${WIDTH - MARGIN.right + 40}" y="${ly}">${escape(line.label)} (n=${sorted.length})</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function formatMs(ms: number): string {
  if (ms >= 1000) return `${ms / 1000} s`
  return `${ms} ms`
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
