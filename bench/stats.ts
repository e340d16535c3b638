/**
 * Small numeric and formatting helpers for the benchmark harness.
 */

/** The `p`-th percentile (0–100) of `samples`, nearest-rank; NaN when there are none. */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = Float64Array.from(samples).sort()
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export const mean = (samples: ReadonlyArray<number>): number =>
  samples.length === 0 ? Number.NaN : samples.reduce((a, b) => a + b, 0) / samples.length

/** A duration in milliseconds, printed with a unit that keeps 3 significant digits. */
export const fmtMillis = (ms: number): string => {
  if (!Number.isFinite(ms)) return "n/a"
  if (ms < 0.001) return `${(ms * 1e6).toPrecision(3)} ns`
  if (ms < 1) return `${(ms * 1e3).toPrecision(3)} µs`
  if (ms < 1000) return `${ms.toPrecision(3)} ms`
  return `${(ms / 1000).toPrecision(3)} s`
}

export const fmtNumber = (value: number): string => {
  if (!Number.isFinite(value)) return "n/a"
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US")
  return value.toPrecision(3)
}

export const fmtBytes = (bytes: number): string => {
  if (!Number.isFinite(bytes)) return "n/a"
  const abs = Math.abs(bytes)
  if (abs >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
  if (abs >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${Math.round(bytes)} B`
}

/** Renders rows as a Markdown table (also readable on a terminal). */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n")
}
