/**
 * What the `ergon` command line prints: aligned tables, colour on a terminal, times relative to
 * now or to a flow's start, JSON for scripts, and a progress line on stderr for long commands.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

// ---------------------------------------------------------------------------------------------
// Colour
// ---------------------------------------------------------------------------------------------

/**
 * Whether stdout gets colour: on a terminal, unless `NO_COLOR` is set; `FORCE_COLOR` forces it.
 *
 * @since 0.1.0
 * @category Models
 */
export const colour: boolean = process.env["FORCE_COLOR"] !== undefined && process.env["FORCE_COLOR"] !== "0"
  ? true
  : process.env["NO_COLOR"] === undefined && process.stdout.isTTY === true

const sgr = (code: string) => (text: string): string => (colour && text !== "" ? `\x1b[${code}m${text}\x1b[0m` : text)

/**
 * Styles (no-ops without colour).
 *
 * @since 0.1.0
 * @category Models
 */
export const style = {
  bold: sgr("1"),
  dim: sgr("2"),
  red: sgr("31"),
  green: sgr("32"),
  yellow: sgr("33"),
  blue: sgr("34"),
  magenta: sgr("35"),
  cyan: sgr("36")
} as const

/**
 * A status in its colour: ended well green, failed red, waiting yellow, running cyan.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const status = (text: string): string => {
  switch (text) {
    case "completed":
    case "success":
    case "received":
    case "live":
      return style.green(text)
    case "failed":
    case "failure":
    case "dead":
      return style.red(text)
    case "suspended":
    case "waiting":
    case "retrying":
    case "pending":
      return style.yellow(text)
    case "running":
      return style.cyan(text)
    default:
      return style.dim(text)
  }
}

// eslint-disable-next-line no-control-regex
const ansi = /\x1b\[[0-9;]*m/g

/**
 * The width of a string as displayed (without its colour codes).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const width = (text: string): number => text.replace(ansi, "").length

const pad = (text: string, to: number): string => text + " ".repeat(Math.max(0, to - width(text)))

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/**
 * An aligned table: a bold header line, then one line per row, columns two spaces apart, the last
 * column left as long as it is.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, indent = ""): string => {
  const widths = header.map((title, i) => Math.max(width(title), ...rows.map((row) => width(row[i] ?? ""))))
  const line = (cells: ReadonlyArray<string>) =>
    indent + cells.map((cell, i) => (i === cells.length - 1 ? cell : pad(cell, widths[i]!))).join("  ").trimEnd()
  return [style.bold(line(header)), ...rows.map(line)].join("\n")
}

/**
 * Label–value lines, the labels aligned.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const fields = (entries: ReadonlyArray<readonly [string, string]>, indent = "  "): string => {
  const labelWidth = Math.max(...entries.map(([label]) => label.length))
  return entries.map(([label, value]) => `${indent}${style.dim(label.padEnd(labelWidth))}  ${value}`).join("\n")
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

/**
 * A duration in the largest two units that matter: `850ms`, `1.2s`, `3m 12s`, `2h 05m`, `3d 4h`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const duration = (millis: number): string => {
  const ms = Math.max(0, Math.round(millis))
  if (ms < 1_000) return `${ms}ms`
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)}s`
  const s = Math.floor(ms / 1_000)
  if (s < 3_600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`
  const m = Math.floor(s / 60)
  if (m < 24 * 60) return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`
  const h = Math.floor(m / 60)
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

/**
 * A time relative to `now`: `3m 12s ago`, `in 2h 05m`, `now`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const ago = (at: number, now: number): string => {
  const delta = now - at
  if (Math.abs(delta) < 1_000) return "now"
  return delta > 0 ? `${duration(delta)} ago` : `in ${duration(-delta)}`
}

/**
 * A time relative to a start: `+0ms`, `+1.2s`, `+2h 05m`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const offset = (at: number, start: number): string => (at < start ? `-${duration(start - at)}` : `+${duration(at - start)}`)

/**
 * An absolute time, in UTC: `2026-12-02 15:40:01.123 UTC`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const timestamp = (at: number): string => {
  const date = new Date(at)
  return Number.isNaN(date.getTime()) ? String(at) : `${date.toISOString().replace("T", " ").replace("Z", "")} UTC`
}

/**
 * A JSON value on one line, cut at `max` characters.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const brief = (value: unknown, max = 80): string => {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/**
 * Writes a line to stdout, through Effect's `Console` (so a test can capture it).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const print = (text: string): Effect.Effect<void> => Console.log(text)


/**
 * Writes a value as JSON to stdout (for `--json`).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const printJson = (value: unknown): Effect.Effect<void> => print(JSON.stringify(value, null, 2))

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/**
 * A progress line on stderr for commands over many flows. On a terminal it is redrawn in place (at
 * most ten times a second) and cleared at the end; otherwise a line is written at most every
 * second. Nothing is drawn during the first moments (a tenth of a second on a terminal, a second
 * otherwise). `done` writes the final count on a line of its own either way.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Progress {
  /** Sets how many are done, of how many when known. */
  readonly update: (done: number, total?: number | undefined) => void
  /** Writes the final line. */
  readonly done: (summary: string) => Effect.Effect<void>
}

/**
 * A progress line labelled `label` (`cancelling`, `scanning`…).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const progress = (label: string): Progress => {
  const tty = process.stderr.isTTY === true
  const every = tty ? 100 : 1_000
  // The first line only once the command has taken a while: short commands print none.
  let last = Date.now()
  let drawn = false
  const render = (done: number, total: number | undefined) =>
    `${label} ${done}${total === undefined ? "" : `/${total}`}${total ? ` (${Math.floor((done / total) * 100)}%)` : ""}`
  return {
    update: (done, total) => {
      const now = Date.now()
      if (now - last < every) return
      last = now
      if (tty) {
        process.stderr.write(`\r\x1b[2K${render(done, total)}`)
        drawn = true
      } else {
        process.stderr.write(`${render(done, total)}\n`)
      }
    },
    done: (summary) =>
      Effect.zipRight(
        Effect.sync(() => {
          if (drawn) process.stderr.write("\r\x1b[2K")
        }),
        Console.error(summary)
      )
  }
}
