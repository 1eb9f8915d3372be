/** What a scenario gets. */
export interface ScenarioContext {
  readonly seed: number
  readonly quick: boolean
  readonly nodes: number
  /** A scratch directory of the run; the scenario may remove it. */
  readonly work: string
  progress(message: string): void
}

/** What a scenario reports: numbers, and the targets they are held against (lower is better). */
export interface ScenarioResult {
  readonly metrics: Record<string, number>
  readonly targets?: Record<string, number | undefined>
}
