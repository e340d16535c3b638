/**
 * The stores the harness runs on, and the raw baselines ("the physical limit") measured on each.
 *
 * - `stores`: memory, SQLite FULL and NORMAL, and PostgreSQL (bench/pg.ts).
 * - Each `StoreSpec` carries its baselines, measured in the run beside the scenario: single-row
 *   commits (`rawCommit`), batched durable writes (`rawBatched`: `BATCH` journal-like rows a commit),
 *   a journal-like load (`rawLoad`) and a minimal row's size (`rawRowBytes`).
 * - The peers (@effect/workflow, DBOS) are in bench/peers.ts and run.ts, not here.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import Database from "better-sqlite3"
import type * as Layer from "effect/Layer"
import { ExecutionLog } from "ergon"
import * as Sqlite from "ergon/sqlite"
import { BATCH, type RawBatched } from "./baselines.js"
import { pgStore } from "./pg.js"
import { percentile } from "./stats.js"

export type StoreName = "memory" | "sqlite-full" | "sqlite-normal" | "pg"

/** A raw commit loop's result: per-commit latency samples in ms. */
export interface RawCommits {
  readonly commitsPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly mean: number
  /**
   * The same commits from many connections at once (PostgreSQL: 64), where the store takes
   * concurrent writers; the limit for concurrent scenarios. Absent: one writer at a time (SQLite).
   */
  readonly concurrent?: { readonly connections: number; readonly commitsPerSecond: number } | undefined
}

export { BATCH, batchedLimit, type RawBatched } from "./baselines.js"

export interface StoreSpec {
  readonly name: StoreName
  /** Human description of the durability settings. */
  readonly settings: string
  /** A fresh store Layer on `file` (ignored by the memory store). */
  readonly layer: (file: string) => Layer.Layer<ExecutionLog.ExecutionLog, unknown>
  /** Whether the store has a file whose size can be measured. */
  readonly onDisk: boolean
  /** Baseline: `n` single-row INSERT commits, one at a time, on `file` with the same settings. */
  readonly rawCommit: (file: string, n: number) => RawCommits | Promise<RawCommits>
  /** Baseline: about `rows` journal-like rows written in batches of `BATCH` a commit (stores with a disk). */
  readonly rawBatched?: ((file: string, rows: number) => Promise<RawBatched>) | undefined
  /** Baseline: reading `rows` journal-like rows of one key in one query (the best a resume can do). */
  readonly rawLoad: (file: string, rows: number) => number | Promise<number>
  /** The size in bytes of the store's database for `file` (stores on disk), after `settle`. */
  readonly size?: ((file: string) => Promise<number>) | undefined
  /** Baseline: bytes per row of a raw table of `rows` minimal suspended-flow rows, on `file`. */
  readonly rawRowBytes?: ((file: string, rows: number) => Promise<number>) | undefined
  /** A statement to run before measuring the size (SQLite: a WAL checkpoint). */
  readonly settle?: string | undefined
  /** Stops what the store started (a server), at the end of the run. */
  readonly close?: (() => Promise<void>) | undefined
}

/** Settings of the run that change how the stores are opened (`--no-group-commit`). */
export const settings = { groupCommit: true }

const removeDb = (file: string) => {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) fs.rmSync(file + suffix, { force: true })
}

/** File size of a SQLite database including its WAL. */
export const dbBytes = (file: string): number => {
  let total = 0
  for (const suffix of ["", "-wal"]) {
    try {
      total += fs.statSync(file + suffix).size
    } catch {
      // missing: 0
    }
  }
  return total
}

const openRaw = (file: string, synchronous: "FULL" | "NORMAL") => {
  removeDb(file)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma(`synchronous = ${synchronous}`)
  return db
}

export const summarize = (samples: Array<number>, totalMs: number): RawCommits => ({
  commitsPerSecond: (samples.length / totalMs) * 1000,
  p50: percentile(samples, 50),
  p99: percentile(samples, 99),
  mean: totalMs / samples.length
})

const sqliteRawCommit = (synchronous: "FULL" | "NORMAL") => (file: string, n: number): RawCommits => {
  const db = openRaw(file, synchronous)
  try {
    db.exec("CREATE TABLE raw (id TEXT PRIMARY KEY, payload TEXT NOT NULL)")
    const insert = db.prepare("INSERT INTO raw (id, payload) VALUES (?, ?)")
    const payload = JSON.stringify({ _tag: "Success", value: 42 })
    const samples: Array<number> = []
    const start = performance.now()
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      insert.run(`row-${i}`, payload)
      samples.push(performance.now() - t0)
    }
    return summarize(samples, performance.now() - start)
  } finally {
    db.close()
    removeDb(file)
  }
}

const sqliteRawBatched = (synchronous: "FULL" | "NORMAL") => (file: string, rows: number): Promise<RawBatched> => {
  const db = openRaw(file, synchronous)
  try {
    db.exec("CREATE TABLE raw (flow_id TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (flow_id, key))")
    const insert = db.prepare("INSERT INTO raw (flow_id, key, payload, created_at) VALUES (?, ?, ?, ?)")
    const beginTx = db.prepare("BEGIN IMMEDIATE")
    const commitTx = db.prepare("COMMIT")
    const payload = JSON.stringify({ _tag: "Success", value: 42 })
    const batches = Math.max(1, Math.ceil(rows / BATCH))
    const write = (prefix: string, count: number) => {
      for (let b = 0; b < count; b++) {
        beginTx.run()
        for (let i = 0; i < BATCH; i++) insert.run(`${prefix}-${b}-${i}`, "step#1", payload, Date.now())
        commitTx.run()
      }
    }
    write("warm", 5)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    write("flow", batches)
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const written = batches * BATCH
    return Promise.resolve({ batch: BATCH, rows: written, rowsPerSecond: (written / ms) * 1000, cpuPerRowMicros: (cpu.user + cpu.system) / written })
  } finally {
    db.close()
    removeDb(file)
  }
}

const sqliteRawLoad = (synchronous: "FULL" | "NORMAL") => (file: string, rows: number): number => {
  const db = openRaw(file, synchronous)
  try {
    db.exec("CREATE TABLE raw (flow TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (flow, key))")
    const insert = db.prepare("INSERT INTO raw (flow, key, payload) VALUES (?, ?, ?)")
    db.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run("f", `step#${i}`, JSON.stringify({ _tag: "Success", value: i }))
    })()
    const select = db.prepare("SELECT key, payload FROM raw WHERE flow = ?")
    select.all("f") // warm
    const samples: Array<number> = []
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now()
      const got = select.all("f") as Array<{ payload: string }>
      for (const row of got) JSON.parse(row.payload)
      samples.push(performance.now() - t0)
    }
    return percentile(samples, 50)
  } finally {
    db.close()
    removeDb(file)
  }
}

/** Bytes per row of a raw table holding what a suspended flow needs at minimum (id, type, status, input). */
const sqliteRawRowBytes = (file: string, rows: number): number => {
  removeDb(file)
  const db = new Database(file)
  try {
    db.pragma("journal_mode = WAL")
    db.exec("CREATE TABLE raw (id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL)")
    db.pragma("wal_checkpoint(TRUNCATE)")
    const empty = dbBytes(file)
    const insert = db.prepare("INSERT INTO raw VALUES (?, ?, ?, ?)")
    db.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run(`parked-${i}`, "parked", "suspended", String(i))
    })()
    db.pragma("wal_checkpoint(TRUNCATE)")
    return (dbBytes(file) - empty) / rows
  } finally {
    db.close()
    removeDb(file)
  }
}

const memoryRawCommit = (_file: string, n: number): RawCommits => {
  const map = new Map<string, { readonly payload: string }>()
  const payload = JSON.stringify({ _tag: "Success", value: 42 })
  const samples: Array<number> = []
  const start = performance.now()
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    map.set(`row-${i}`, { payload })
    samples.push(performance.now() - t0)
  }
  return summarize(samples, performance.now() - start)
}

const memoryRawLoad = (_file: string, rows: number): number => {
  const map = new Map<string, string>()
  for (let i = 0; i < rows; i++) map.set(`step#${i}`, JSON.stringify({ _tag: "Success", value: i }))
  const samples: Array<number> = []
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now()
    for (const value of map.values()) JSON.parse(value)
    samples.push(performance.now() - t0)
  }
  return percentile(samples, 50)
}

export const stores: ReadonlyArray<StoreSpec> = [
  {
    name: "memory",
    settings: "ExecutionLog.layerMemory (nothing durable)",
    layer: () => ExecutionLog.layerMemory,
    onDisk: false,
    rawCommit: memoryRawCommit,
    rawLoad: memoryRawLoad
  },
  {
    name: "sqlite-full",
    settings: "SQLite file, journal_mode=WAL, synchronous=FULL",
    layer: (file) => Sqlite.layer({ filename: file, synchronous: "FULL", groupCommit: settings.groupCommit }),
    onDisk: true,
    rawCommit: sqliteRawCommit("FULL"),
    rawBatched: sqliteRawBatched("FULL"),
    rawLoad: sqliteRawLoad("FULL"),
    size: (file) => Promise.resolve(dbBytes(file)),
    rawRowBytes: (file, rows) => Promise.resolve(sqliteRawRowBytes(file, rows)),
    settle: "PRAGMA wal_checkpoint(TRUNCATE)"
  },
  {
    name: "sqlite-normal",
    settings: "SQLite file, journal_mode=WAL, synchronous=NORMAL",
    layer: (file) => Sqlite.layer({ filename: file, synchronous: "NORMAL", groupCommit: settings.groupCommit }),
    onDisk: true,
    rawCommit: sqliteRawCommit("NORMAL"),
    rawBatched: sqliteRawBatched("NORMAL"),
    rawLoad: sqliteRawLoad("NORMAL"),
    size: (file) => Promise.resolve(dbBytes(file)),
    rawRowBytes: (file, rows) => Promise.resolve(sqliteRawRowBytes(file, rows)),
    settle: "PRAGMA wal_checkpoint(TRUNCATE)"
  },
  pgStore
]

export const freshFile = (dir: string, store: StoreName, scenario: string): string => {
  const file = path.join(dir, `${store}-${scenario}.db`)
  removeDb(file)
  return file
}

export { removeDb }

export { sqlStatements } from "./statements.js"
