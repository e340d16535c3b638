/**
 * The schema of the SQL store, as migrations shipped in code, and the few places where SQLite and
 * PostgreSQL differ.
 *
 * Every table of the store is created here, including those that later features fill (signals,
 * timers), so features add behaviour rather than rewrite tables. Times are `BIGINT` epoch
 * milliseconds taken from Effect's `Clock`, never from the database; payloads are JSON `TEXT`.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * What differs between the SQL dialects the store runs on. It is the one place that knows about
 * dialects: the statements themselves are written in the SQL both SQLite and PostgreSQL accept.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Dialect {
  readonly name: "sqlite" | "pg"
  /**
   * The column type of ids and keys. On PostgreSQL it uses the "C" collation, so that ids sort
   * byte by byte as they do on SQLite (and as `afterId` paging expects), whatever the database's
   * locale.
   */
  readonly keyType: string
  /** Reads the number of rows a write changed from the driver's raw result (`Statement.raw`). */
  readonly affectedRows: (raw: unknown) => number
  /**
   * Appended to the subquery that picks the rows a claim (of flows, of a signal) takes. On
   * PostgreSQL, `FOR UPDATE SKIP LOCKED`: concurrent claimers lock what they pick and pass over
   * what another has locked, instead of waiting for it and then finding it taken. On SQLite,
   * nothing: the claim is one write statement, and SQLite runs one writer at a time.
   */
  readonly skipLocked: string
  /**
   * Whether a claim runs its pick as a materialized common table expression before the update,
   * rather than as an `IN (subquery)` of the update. PostgreSQL may rescan such a subquery for
   * each row the update visits, and the rescan skips (`SKIP LOCKED`) the rows the update has just
   * locked itself, so it picks the next rows: an update meant for one signal or `limit` flows
   * then takes them all. A `MATERIALIZED` CTE runs once.
   */
  readonly pickInCte: boolean
  /**
   * The table a claim picks from: on SQLite with `INDEXED BY ergon_flows_ready`, since its planner
   * otherwise prefers looking the ready flows up by status and sorting them all (28–36 ms a claim at
   * 100,000 ready flows, against under a millisecond in the index's order). PostgreSQL picks the
   * index by itself (see the `9_claim_order` migration).
   */
  readonly claimFrom: string
  /** Whether a failed statement broke a primary key or unique constraint (a concurrent insert won). */
  readonly isUniqueViolation: (error: unknown) => boolean
}

// The driver's error code, found on the error or on one of its causes (`SqlError` wraps it).
const hasCode = (error: unknown, codes: ReadonlyArray<string>): boolean => {
  let current: unknown = error
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string" && codes.includes(code)) return true
    current = (current as { readonly cause?: unknown }).cause
  }
  return false
}

const countField = (raw: unknown, field: "changes" | "rowCount"): number => {
  if (typeof raw === "object" && raw !== null && field in raw) {
    const value = (raw as Record<string, unknown>)[field]
    if (typeof value === "number") return value
    if (typeof value === "bigint") return Number(value)
  }
  return 0
}

/**
 * SQLite (better-sqlite3): `Statement.raw` is the driver's `RunResult`, `{ changes, lastInsertRowid }`.
 *
 * @since 0.1.0
 * @category Models
 */
export const sqliteDialect: Dialect = {
  name: "sqlite",
  keyType: "TEXT",
  affectedRows: (raw) => countField(raw, "changes"),
  skipLocked: "",
  pickInCte: false,
  claimFrom: "ergon_flows INDEXED BY ergon_flows_ready",
  isUniqueViolation: (error) => hasCode(error, ["SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"])
}

/**
 * PostgreSQL (node-postgres, under `@effect/sql-pg`): `Statement.raw` is the driver's `Result`,
 * whose `rowCount` is the number of rows the command affected.
 *
 * @since 0.1.0
 * @category Models
 */
export const pgDialect: Dialect = {
  name: "pg",
  keyType: "TEXT COLLATE \"C\"",
  affectedRows: (raw) => countField(raw, "rowCount"),
  skipLocked: " FOR UPDATE SKIP LOCKED",
  pickInCte: true,
  claimFrom: "ergon_flows",
  isUniqueViolation: (error) => hasCode(error, ["23505"])
}

/**
 * Picks the dialect of a client. Dialects other than SQLite and PostgreSQL are treated as SQLite
 * (their SQL is not supported).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const dialectOf = (sql: SqlClient.SqlClient): Dialect =>
  sql.onDialectOrElse({ pg: () => pgDialect, orElse: () => sqliteDialect })

/**
 * The name of the table in which the Migrator records the migrations it has applied.
 *
 * @since 0.1.0
 * @category Models
 */
export const migrationsTable = "ergon_migrations"

const schemaV1 = (dialect: Dialect): ReadonlyArray<string> => {
  const key = dialect.keyType
  return [
    `CREATE TABLE ergon_flows (
  id ${key} NOT NULL PRIMARY KEY,
  type ${key} NOT NULL,
  version TEXT,
  input TEXT NOT NULL,
  input_hash TEXT NOT NULL,
  status TEXT NOT NULL,
  result TEXT,
  error TEXT,
  parent_id ${key},
  parent_key ${key},
  priority INTEGER NOT NULL DEFAULT 0,
  run_after BIGINT,
  suspend_reason TEXT,
  lease_owner TEXT,
  lease_epoch BIGINT NOT NULL DEFAULT 0,
  lease_expires_at BIGINT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  completed_at BIGINT
)`,
    // Ready work: `status = 'pending' AND run_after <= now`, best priority first.
    `CREATE INDEX ergon_flows_claim ON ergon_flows (status, run_after, priority)`,
    // Expired leases of running flows, to take them over.
    `CREATE INDEX ergon_flows_lease ON ergon_flows (status, lease_expires_at)`,
    `CREATE INDEX ergon_flows_parent ON ergon_flows (parent_id)`,
    `CREATE INDEX ergon_flows_type_status ON ergon_flows (type, status)`,
    `CREATE TABLE ergon_steps (
  flow_id ${key} NOT NULL REFERENCES ergon_flows (id) ON DELETE CASCADE,
  "key" ${key} NOT NULL,
  input_hash TEXT,
  status TEXT NOT NULL,
  exit TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT,
  started_at BIGINT,
  completed_at BIGINT,
  PRIMARY KEY (flow_id, "key")
)`,
    // No foreign key: a signal may be sent before the flow it is for has been started.
    `CREATE TABLE ergon_signals (
  flow_id ${key} NOT NULL,
  name ${key} NOT NULL,
  seq BIGINT NOT NULL,
  payload TEXT,
  consumed_by ${key},
  created_at BIGINT NOT NULL,
  PRIMARY KEY (flow_id, name, seq)
)`,
    `CREATE TABLE ergon_timers (
  flow_id ${key} NOT NULL REFERENCES ergon_flows (id) ON DELETE CASCADE,
  "key" ${key} NOT NULL,
  fire_at BIGINT NOT NULL,
  fired INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (flow_id, "key")
)`,
    `CREATE INDEX ergon_timers_due ON ergon_timers (fired, fire_at)`
  ]
}

/**
 * The channel on which the PostgreSQL store announces changes (`NOTIFY`). The payload is the name
 * of the schema whose tables changed, so stores in different schemas of one database can tell
 * their own notifications apart.
 *
 * @since 0.1.0
 * @category Models
 */
export const notifyChannel = "ergon"

// PostgreSQL only: triggers that `NOTIFY` listeners (see `ergon/pg`) when work may have become
// ready or a flow ended, so the writes themselves stay one statement. Notifications are sent at
// commit, and identical ones of one transaction are sent once. Nothing on SQLite: its workers poll.
const notifyV2 = (dialect: Dialect): ReadonlyArray<string> =>
  dialect.name !== "pg" ? [] : [
    `CREATE OR REPLACE FUNCTION ergon_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${notifyChannel}', TG_TABLE_SCHEMA);
  RETURN NULL;
END
$$`,
    // A new flow (scheduled now or later: workers recompute their next wake-up).
    `CREATE TRIGGER ergon_flows_insert_notify AFTER INSERT ON ergon_flows
  FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION ergon_notify()`,
    // Woken, released or retried (pending), cancelled, or ended (for waiters on its result).
    `CREATE TRIGGER ergon_flows_update_notify AFTER UPDATE OF status ON ergon_flows
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('pending', 'cancelled', 'completed', 'failed'))
  EXECUTE FUNCTION ergon_notify()`,
    `CREATE TRIGGER ergon_signals_insert_notify AFTER INSERT ON ergon_signals
  FOR EACH ROW EXECUTE FUNCTION ergon_notify()`
  ]

// The journal records what each entry is and where it was called (its scope and its place
// there), and the order entries were completed in: what replay checks the code against, and
// the order in which it returns recorded results to concurrent branches.
const journalOrderV3 = (dialect: Dialect): ReadonlyArray<string> => [
  `ALTER TABLE ergon_steps ADD COLUMN kind TEXT`,
  `ALTER TABLE ergon_steps ADD COLUMN scope ${dialect.keyType}`,
  `ALTER TABLE ergon_steps ADD COLUMN position INTEGER`,
  `ALTER TABLE ergon_steps ADD COLUMN seq BIGINT`,
  `ALTER TABLE ergon_steps ADD COLUMN input TEXT`
]

// The live-worker registry, the trace context a flow's executions link to, and an index for
// listing flows newest first (`pageFlows`).
const workersV4 = (dialect: Dialect): ReadonlyArray<string> => {
  const key = dialect.keyType
  return [
    `CREATE TABLE ergon_workers (
  id ${key} NOT NULL PRIMARY KEY,
  name ${key} NOT NULL,
  version TEXT,
  types TEXT NOT NULL,
  timers INTEGER NOT NULL,
  signals INTEGER NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  concurrency INTEGER NOT NULL,
  in_flight INTEGER NOT NULL DEFAULT 0,
  started_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
)`,
    `ALTER TABLE ergon_flows ADD COLUMN trace_context TEXT`,
    `CREATE INDEX ergon_flows_created ON ergon_flows (created_at, id)`
  ]
}

// Flows that live long: named events and the flows waiting for them, executions archived by
// continue-as-new with their journals, and why a flow was cancelled.
const longLivedV6 = (dialect: Dialect): ReadonlyArray<string> => {
  const key = dialect.keyType
  return [
    `ALTER TABLE ergon_flows ADD COLUMN cancel_reason TEXT`,
    `ALTER TABLE ergon_flows ADD COLUMN execution INTEGER NOT NULL DEFAULT 1`,
    // Retention: ended flows, oldest first (`Client.purge`).
    `CREATE INDEX ergon_flows_finished ON ergon_flows (status, completed_at)`,
    // One row per name: the first emit wins.
    `CREATE TABLE ergon_events (
  name ${key} NOT NULL PRIMARY KEY,
  payload TEXT,
  created_at BIGINT NOT NULL
)`,
    // Emitted events by age (`Client.purge` with `eventsBefore`).
    `CREATE INDEX ergon_events_created ON ergon_events (created_at)`,
    // Who to wake when an event is emitted: one row per suspended waiter, read by name (the primary
    // key's prefix), deleted by the emitter once it has woken them. No foreign key: a waiter row of a
    // flow that is gone only costs a wake-up that finds nothing.
    `CREATE TABLE ergon_event_waiters (
  name ${key} NOT NULL,
  flow_id ${key} NOT NULL,
  PRIMARY KEY (name, flow_id)
)`,
    `CREATE TABLE ergon_executions (
  flow_id ${key} NOT NULL REFERENCES ergon_flows (id) ON DELETE CASCADE,
  execution INTEGER NOT NULL,
  input TEXT NOT NULL,
  result TEXT,
  started_at BIGINT NOT NULL,
  ended_at BIGINT,
  entries INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (flow_id, execution)
)`,
    `CREATE TABLE ergon_execution_steps (
  flow_id ${key} NOT NULL REFERENCES ergon_flows (id) ON DELETE CASCADE,
  execution INTEGER NOT NULL,
  "key" ${key} NOT NULL,
  input_hash TEXT,
  status TEXT NOT NULL,
  exit TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT,
  started_at BIGINT,
  completed_at BIGINT,
  kind TEXT,
  scope ${key},
  position INTEGER,
  seq BIGINT,
  input TEXT,
  PRIMARY KEY (flow_id, execution, "key")
)`,
    // PostgreSQL: an emitted event wakes the listeners of other processes (a flow waiting for it in
    // memory looks again at once).
    ...(dialect.name !== "pg" ? [] : [
      `CREATE TRIGGER ergon_events_insert_notify AFTER INSERT ON ergon_events
  FOR EACH ROW EXECUTE FUNCTION ergon_notify()`
    ])
  ]
}

// Upgrades: the version a flow last ran under (a worker of a newer version may take over an
// execution its flow lists both versions for), and the pins of the flow types a worker registered
// (which versions of a type a live worker can take, for `Client.versions` and `Client.migrate`).
// On PostgreSQL, a re-stamp (`Client.migrate`) notifies the workers: they may take the flows now.
const upgradesV7 = (dialect: Dialect): ReadonlyArray<string> => [
  `ALTER TABLE ergon_flows ADD COLUMN ran_version TEXT`,
  `ALTER TABLE ergon_workers ADD COLUMN pins TEXT`,
  ...(dialect.name === "pg"
    ? [
      `CREATE TRIGGER ergon_flows_version_notify AFTER UPDATE OF version ON ergon_flows
  FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION ergon_notify()`
    ]
    : [])
]

// A cancellation asked of a flow that registered compensations: it runs them before it ends
// (`cancelFlow`).
const cancelRequestsV8 = (): ReadonlyArray<string> => [
  `ALTER TABLE ergon_flows ADD COLUMN cancel_requested_at BIGINT`
]

// Claims in claim order from an index: the flows that may be claimed (pending, suspended, running:
// ready ones, parked ones, leased ones) by priority, then due time (`run_after`, or the lease's
// expiry for a running flow), then id, as `claimFlows` orders them. A claim reads the first
// entries and stops at its limit: ended flows are not in it, and the ready backlog is never sorted.
// Claims carry the index's predicate word for word (what both SQLite and PostgreSQL need to use a
// partial index). `ergon_flows_claim` stays for `nextWakeAt` and the listings by status.
export const claimableStatuses = "status IN ('pending', 'suspended', 'running')"
export const claimOrder = "priority DESC, (COALESCE(run_after, lease_expires_at)), id"
const claimOrderV9 = (): ReadonlyArray<string> => [
  `CREATE INDEX ergon_flows_ready ON ergon_flows (${claimOrder}) WHERE ${claimableStatuses}`
]

const runAll = (statements: (dialect: Dialect) => ReadonlyArray<string>): Effect.Effect<void, unknown, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(statements(dialectOf(sql)), (statement) => sql.unsafe(statement).withoutTransform, {
      discard: true
    }))

/**
 * The migrations of the store, keyed `<id>_<name>` as `Migrator.fromRecord` expects. Migrations
 * are only ever added to this record, never edited once released.
 *
 * @since 0.1.0
 * @category Models
 */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "1_create_store": runAll(schemaV1),
  "2_notify": runAll(notifyV2),
  "3_journal_order": runAll(journalOrderV3),
  "4_workers": runAll(workersV4),
  "6_long_lived": runAll(longLivedV6),
  "7_upgrades": runAll(upgradesV7),
  "8_cancel_requests": runAll(cancelRequestsV8),
  "9_claim_order": runAll(claimOrderV9)
}

/**
 * The Migrator's loader over `migrations`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const loader: Migrator.Loader = Migrator.fromRecord(migrations)

/**
 * Applies the migrations that the database has not seen yet, recording them in
 * `ergon_migrations`. Running it again (from this or another process) does nothing.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Migrator.make({})({ loader, table: migrationsTable })
