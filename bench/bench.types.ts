/** One figure a benchmark measured. Figures, not assertions: a missed goal is reported, never thrown. */
export interface BenchResult {
  metric: string;
  value: number;
  unit: string;
  /** The goal as text, e.g. "≥ 0.5×" or "< 100 ms" (from DESIGN.md or a seed). */
  goal?: string;
  /** Whether the goal was met; absent when the figure has no goal. */
  met?: boolean;
  note?: string;
}

/** A benchmark module: `run()` sets up what it needs, measures, tears everything down, and returns its figures. */
export interface Benchmark {
  name: string;
  description: string;
  /** Longer than the default 180 s when the benchmark needs it. */
  timeoutMs?: number;
  run(): Promise<BenchResult[]>;
}
