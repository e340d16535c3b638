/**
 * The batched baselines' shape and batch size, apart from stores.ts so that bench/pg.ts (which
 * stores.ts imports) can use them too.
 */

/**
 * The batched durable write rate: journal-like rows inserted `batch` to a commit (SQLite:
 * `BEGIN IMMEDIATE`, the inserts, `COMMIT`, as the group commit does; PostgreSQL: one prepared
 * multi-row `INSERT … SELECT FROM unnest(…)` a commit), with the store's durability settings.
 */
export interface RawBatched {
  /** Rows per commit. */
  readonly batch: number
  /** Rows written (one connection). */
  readonly rows: number
  /** Rows per second, one connection, one batch after the other. */
  readonly rowsPerSecond: number
  /** This process's CPU per row, µs (one connection). */
  readonly cpuPerRowMicros: number
  /** The server's CPU per row, µs (PostgreSQL, where /proc can be read). */
  readonly serverCpuPerRowMicros?: number | undefined
  /** The same from several connections at once (PostgreSQL: 4). */
  readonly concurrent?: {
    readonly connections: number
    readonly rowsPerSecond: number
    readonly serverCpuPerRowMicros?: number | undefined
  } | undefined
}

/** The highest batched rate measured (one connection or several), with how it was reached. */
export const batchedLimit = (batched: RawBatched): { readonly rowsPerSecond: number; readonly connections: number } =>
  batched.concurrent !== undefined && batched.concurrent.rowsPerSecond > batched.rowsPerSecond
    ? { rowsPerSecond: batched.concurrent.rowsPerSecond, connections: batched.concurrent.connections }
    : { rowsPerSecond: batched.rowsPerSecond, connections: 1 }

/** Rows per commit of the batched baselines: about what the engine's batches carry at concurrency 64. */
export const BATCH = 64
