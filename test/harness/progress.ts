// A progress bar for long runs, on stderr, only when stderr is a terminal (CI logs stay clean):
// `[#########-----------]  45%  10.8 of 24.0 virtual h  38 s`. Redrawn at most 5 times a second.
export interface ProgressOutput {
  readonly isTTY?: boolean
  readonly columns?: number
  write (text: string): unknown
}

const REDRAW_MS = 200

export class ProgressBar {
  readonly #out: ProgressOutput
  readonly #label: string
  readonly #started = performance.now()
  #lastDraw = -Infinity
  #drawn = false

  constructor (out: ProgressOutput, label: string) {
    this.#out = out
    this.#label = label
  }

  /** `done` of `total` (virtual ms, runs, ...); `unit` formats them. */
  update (done: number, total: number, unit: (x: number) => string = String): void {
    if (this.#out.isTTY !== true) return
    const now = performance.now()
    if (now - this.#lastDraw < REDRAW_MS && done < total) return
    this.#lastDraw = now
    this.#out.write(`\r${renderBar(this.#label, done, total, unit, (now - this.#started) / 1000, this.#out.columns ?? 80)}`)
    this.#drawn = true
  }

  /** Clears the line (the caller prints its result). */
  done (): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K')
    this.#drawn = false
  }
}

export function renderBar (label: string, done: number, total: number, unit: (x: number) => string, elapsedS: number, columns: number): string {
  const frac = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total))
  const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}%  ${unit(done)} of ${unit(total)}  ${elapsedS.toFixed(0)} s`
  const width = Math.max(10, Math.min(40, columns - label.length - tail.length - 4))
  const fill = Math.round(frac * width)
  return `${label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}]${tail}`
}

export const virtualTime = (ms: number): string => ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(0)} s`
