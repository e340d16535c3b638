/**
 * What the peer programs share: argument parsing, the result line, the step stamps and the
 * statistics. Each program prints exactly one JSON line on stdout (`emit`); everything else,
 * including the peers' own logging through `console.log`, goes to stderr.
 */

/** The line a peer program prints on stdout (declared once, in bench/peers.ts, which reads it). */
import type { Measured } from "../meter.js"
import type { PeerResult } from "../peers.js"

export type { PeerResult }

// The peers log through console.log (DBOS's console logger, Effect's default logger): keep
// stdout for the result line.
console.log = console.error
console.info = console.error
console.debug = console.error

/** `--name value` flags; `allowed` names every flag the program takes. */
export const parseFlags = (
  argv: ReadonlyArray<string>,
  allowed: ReadonlyArray<string>
): ReadonlyMap<string, string> => {
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!
    const value = argv[i + 1]
    if (!flag.startsWith("--") || !allowed.includes(flag.slice(2))) {
      throw new Error(`unknown argument '${flag}' (known: ${allowed.map((a) => `--${a}`).join(", ")})`)
    }
    if (value === undefined) throw new Error(`missing value after '${flag}'`)
    flags.set(flag.slice(2), value)
  }
  return flags
}

export const intFlag = (flags: ReadonlyMap<string, string>, name: string, fallback?: number): number => {
  const raw = flags.get(name)
  if (raw === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required`)
    return fallback
  }
  const value = Number(raw)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, not '${raw}'`)
  return value
}

export const scenarioFlag = (flags: ReadonlyMap<string, string>): 1 | 2 => {
  const raw = flags.get("scenario")
  if (raw === "1" || raw === "2") return Number(raw) as 1 | 2
  throw new Error(`--scenario must be 1 or 2, not '${String(raw)}'`)
}

/** The `p`-th percentile (0–100), nearest-rank, as bench/stats.ts computes it. */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = Float64Array.from(samples).sort()
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

/** `undefined` (left out of the JSON line) for NaN or infinities. */
const finite = (value: number): number | undefined => (Number.isFinite(value) ? value : undefined)

/**
 * Timestamps taken inside the steps. Scenario 1 runs one flow at a time, so the stamps of one
 * flow are the three in `taken` between `reset()` and the flow's end.
 */
export const stamps = {
  taken: [] as Array<number>,
  enabled: false,
  stamp(): void {
    if (stamps.enabled) stamps.taken.push(performance.now())
  },
  reset(): void {
    stamps.taken = []
  }
}

/** Collects scenario 1's samples the way bench/scenarios.ts does for Ergon. */
export const sequentialSamples = () => {
  const flow: Array<number> = []
  const step: Array<number> = []
  const start: Array<number> = []
  let missing = 0
  return {
    /** One flow: `begin` before starting it, `end` after its result arrived. */
    add(begin: number, end: number): void {
      flow.push(end - begin)
      const [a, b, c] = stamps.taken
      if (stamps.taken.length === 3 && a !== undefined && b !== undefined && c !== undefined) {
        start.push(a - begin)
        step.push(b - a, c - b, end - c)
      } else {
        missing++
      }
    },
    result(n: number, elapsedMs: number, notes: ReadonlyArray<string>) {
      const all = [...notes]
      if (missing > 0) all.push(`${missing} flows had not exactly 3 step stamps; left out of the step latency`)
      return {
        n,
        elapsedMs,
        stepsPerSecond: (3 * n) / elapsedMs * 1000,
        flowsPerSecond: n / elapsedMs * 1000,
        flowP50Ms: finite(percentile(flow, 50)),
        flowP99Ms: finite(percentile(flow, 99)),
        stepP50Ms: finite(percentile(step, 50)),
        stepP99Ms: finite(percentile(step, 99)),
        flowStartP50Ms: finite(percentile(start, 50)),
        notes: all
      }
    }
  }
}

/** `--warmup`: untimed flows of the workload before the timed ones (the harness passes Ergon's number). */
export const warmupFlag = (flags: ReadonlyMap<string, string>): number => {
  const raw = flags.get("warmup")
  if (raw === undefined) return 20
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0) throw new Error(`--warmup must be a whole number, not '${raw}'`)
  return value
}

/** The CPU of the timed run per flow: this process's, and the server's when it was measured. */
export const cpuFields = (measured: Measured, n: number) => ({
  cpuPerFlowMicros: measured.cpuMicros / n,
  serverCpuPerFlowMicros: measured.serverCpuMicros === undefined ? undefined : measured.serverCpuMicros / n
})

export const stepLatencyNote =
  "step latency: from one step's run to the next; the third sample ends when the flow's result arrives (as Ergon's scenario 1)"

/** Prints the result line on stdout, then calls `done`. */
export const emit = (result: PeerResult, done: () => void): void => {
  process.stdout.write(JSON.stringify(result) + "\n", () => done())
}

/** Runs `main`, printing a failure on stderr with exit code 1; exits when it is done either way. */
export const runMain = (name: string, main: () => Promise<PeerResult>): void => {
  main().then(
    (result) => {
      // The programs close what they opened; some peers still leave timers behind: don't wait.
      emit(result, () => process.exit(0))
    },
    (error: unknown) => {
      process.stderr.write(`${name}: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
      process.exit(1)
    }
  )
}
