/**
 * The PostgreSQL store (`ergon/pg`): one Layer that connects to a PostgreSQL database, checks the
 * connection, applies the store's migrations and provides `ExecutionLog`, together with the
 * `SqlClient` (a `PgClient`) it opened.
 *
 * Any number of processes on any number of machines may share one database: claims use
 * `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same flow.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import Pg from "pg"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { UnknownException } from "effect/Cause"
import type * as ExecutionLogModule from "./ExecutionLog.js"
import { ExecutionLog } from "./ExecutionLog.js"
import { StoreError } from "./FlowError.js"
import * as ExecutionLogSql from "./sql/ExecutionLogSql.js"
import * as Migrations from "./sql/migrations.js"

/**
 * Where the PostgreSQL store connects: a connection URL
 * (`postgresql://user:password@host:5432/database`), or its parts.
 *
 * @since 0.1.0
 * @category Models
 */
export type Connection =
  | { readonly url: string | Redacted.Redacted<string> }
  | {
    readonly host: string
    readonly port?: number | undefined
    readonly database: string
    readonly username: string
    readonly password?: string | Redacted.Redacted<string> | undefined
  }

/**
 * How to open a PostgreSQL store: a `Connection`, plus
 *
 * - `schema`: a PostgreSQL schema for the store's tables (and its migrations table). It is
 *   created when missing, and every connection of the pool gets it as its `search_path`.
 *   Defaults to none: the tables go where the server's default `search_path` puts them
 *   (usually `public`). A plain identifier: letters, digits, `_` and `$`, not starting with a digit.
 * - `connectTimeout`: how long opening a connection may take (the first one, when the store
 *   opens, and each one the pool opens later) before it fails. Defaults to 5 seconds.
 * - `acquireTimeout`: how long a statement waits for a free connection of the pool (all busy)
 *   before it fails with a `StoreError`. A busy pool is not a failed connection: it defaults to
 *   60 seconds; `Duration.infinity` waits as long as it takes.
 * - `maxConnections`: the size of the connection pool. Defaults to the driver's (10).
 * - `groupCommit`: write the statements of concurrent flows in shared transactions (one batch
 *   at a time, on a connection of the pool), their checkpoints merged into one statement, each
 *   flow going on only once its own write is committed (see docs/performance.md). Defaults to
 *   `true`; `false` commits every statement on its own.
 * - `maxPayloadBytes`, `maxDepth`: the largest payload the store accepts (bytes of JSON, default
 *   4 MiB) and how deeply it may nest (default 128); see `ExecutionLog.Limits` and docs/storage.md.
 *
 * A connection URL that does not parse, or is not `postgresql://…` with a host, is refused; no
 * error, cause or log of the store ever holds the password, whatever the URL's shape.
 *
 * @since 0.1.0
 * @category Models
 */
export type Options = Connection & ExecutionLogModule.LimitsOptions & {
  readonly schema?: string | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly acquireTimeout?: Duration.DurationInput | undefined
  readonly maxConnections?: number | undefined
  readonly groupCommit?: boolean | undefined
}

interface Target {
  readonly url: string
  readonly host: string
  readonly port: number
  readonly database: string
  readonly username: string
  /** The password's forms (and the URL's), to take out of any error text. */
  readonly secrets: ReadonlyArray<string>
}

const schemaPattern = /^[A-Za-z_][A-Za-z0-9_$]*$/

const openError = (target: string, cause: unknown, secrets: ReadonlyArray<string>): StoreError =>
  ExecutionLogSql.storeError("open", scrubbed(cause, secrets), scrub(`cannot open the PostgreSQL database ${target}`, secrets))

const describeTarget = (target: Target): string =>
  `'${target.database}' at ${target.host}:${target.port} as user '${target.username}'`

/** The forms a password may take in text: as given, and percent-encoded as in a URL. */
const secretsOf = (password: string | undefined, raw: string | undefined): ReadonlyArray<string> => {
  const secrets = new Set<string>()
  const add = (secret: string | undefined) => {
    if (secret === undefined || secret === "") return
    secrets.add(secret)
    secrets.add(encodeURIComponent(secret))
    try {
      secrets.add(decodeURIComponent(secret))
    } catch {
      // not percent-encoded
    }
  }
  add(password)
  // the whole URL too, whatever its shape (one that does not parse may hide a password anywhere)
  add(raw)
  return Array.from(secrets).sort((a, b) => b.length - a.length)
}

/** Replaces every secret in a text with `***`. */
const scrub = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((out, secret) => out.split(secret).join("***"), text)

/**
 * A driver error with the secrets taken out of its message (and of the messages of its causes),
 * keeping its code: what a `StoreError` may carry as `cause` without leaking a password to a log.
 */
const scrubbed = (cause: unknown, secrets: ReadonlyArray<string>, depth = 0): Error => {
  if (!(cause instanceof Error)) return new Error(scrub(String(cause), secrets))
  const error = new Error(scrub(cause.message, secrets))
  error.name = cause.name
  const code = (cause as { readonly code?: unknown }).code
  if (typeof code === "string") Object.assign(error, { code })
  const inner = (cause as { readonly cause?: unknown }).cause
  if (inner !== undefined && depth < 3) Object.assign(error, { cause: scrubbed(inner, secrets, depth + 1) })
  return error
}

const urlShape = "postgresql://user:password@host:5432/database"

// The connection URL PgClient gets, with the schema as a startup `search_path` (the `options`
// parameter of node-postgres), so that every connection of the pool uses it from its first query.
// A URL that does not parse, or is not of the shape `postgresql://…`, is refused (never half-used:
// `postgresql:user:pass@host/db` parses as a path and would connect to localhost), and the error
// says so without a word of the URL.
const targetOf = (options: Options): Target | string => {
  let url: URL
  if ("url" in options) {
    const raw = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    if (typeof raw !== "string") return `the connection URL must be a string like ${urlShape}`
    try {
      url = new URL(raw)
    } catch {
      return `the connection URL does not parse as a URL (expected ${urlShape})`
    }
    if (url.protocol !== "postgresql:" && url.protocol !== "postgres:") {
      return `the connection URL must start with postgresql:// or postgres:// (expected ${urlShape})`
    }
    if (!/^[a-z]+:\/\//i.test(raw.trim()) || (url.host === "" && url.searchParams.get("host") === null)) {
      return `the connection URL names no host (expected ${urlShape})`
    }
  } else {
    url = new URL("postgresql://localhost")
    const socket = options.host.startsWith("/")
    if (socket) url.searchParams.set("host", options.host)
    else url.hostname = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host
    if (options.port !== undefined) url.port = String(options.port)
    url.username = encodeURIComponent(options.username)
    if (options.password !== undefined) {
      const password = Redacted.isRedacted(options.password) ? Redacted.value(options.password) : options.password
      url.password = encodeURIComponent(password)
    }
    url.pathname = `/${encodeURIComponent(options.database)}`
  }
  if (options.schema !== undefined) {
    const previous = url.searchParams.get("options")
    const searchPath = `-c search_path="${options.schema}"`
    url.searchParams.set("options", previous === null ? searchPath : `${previous} ${searchPath}`)
  }
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text)
    } catch {
      return text
    }
  }
  const username = decode(url.username) || url.searchParams.get("user") || process.env["PGUSER"] || "postgres"
  const database = decode(url.pathname.slice(1)) || url.searchParams.get("database") || username
  const host = url.searchParams.get("host") ?? (url.hostname === "" ? "localhost" : url.hostname)
  const port = Number(url.searchParams.get("port") ?? (url.port === "" ? "5432" : url.port))
  const password = decode(url.password) || url.searchParams.get("password") || undefined
  return { url: url.toString(), host, port, database, username, secrets: secretsOf(password, url.toString()) }
}

/** The secrets of the options, before the URL is known to parse: whatever the URL's shape. */
const rawSecrets = (options: Options): ReadonlyArray<string> => {
  if ("url" in options) {
    const raw = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    return typeof raw === "string" ? secretsOf(undefined, raw) : []
  }
  const password = options.password === undefined
    ? undefined
    : Redacted.isRedacted(options.password)
    ? Redacted.value(options.password)
    : options.password
  return secretsOf(password, undefined)
}

const open = (
  options: Options
): Effect.Effect<PgClient.PgClient, StoreError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const target = targetOf(options)
    if (typeof target === "string") return yield* Effect.fail(openError("(invalid connection URL)", target, []))
    const { secrets } = target
    const where = describeTarget(target)
    const schema = options.schema
    if (schema !== undefined && !schemaPattern.test(schema)) {
      return yield* Effect.fail(openError(where, `the schema name '${schema}' is not a plain identifier`, secrets))
    }
    const timeout = Duration.decodeUnknown(options.connectTimeout ?? Duration.seconds(5))
    if (Option.isNone(timeout)) {
      return yield* Effect.fail(openError(where, `connectTimeout is not a duration: '${String(options.connectTimeout)}'`, secrets))
    }
    const acquire = Duration.decodeUnknown(options.acquireTimeout ?? Duration.seconds(60))
    if (Option.isNone(acquire) || Duration.toMillis(acquire.value) <= 0) {
      return yield* Effect.fail(openError(where, `acquireTimeout is not a positive duration: '${String(options.acquireTimeout)}'`, secrets))
    }
    const connectMillis = Math.max(1, Math.ceil(Duration.toMillis(timeout.value)))
    // node-postgres's pool has one timeout for both opening a connection and waiting for a free
    // one. Here the pool's is the wait for a free connection (`acquireTimeout`, infinite: 0), and
    // each connection bounds its own opening (`connectTimeout`), so a busy pool is not taken for an
    // unreachable server. (The pool's bound applies to an opening too: never the shorter one.)
    const acquireMillis = Duration.isFinite(acquire.value)
      ? Math.max(connectMillis, Math.ceil(Duration.toMillis(acquire.value)))
      : 0
    class Connection extends Pg.Client {
      constructor(config?: Pg.ClientConfig) {
        super({ ...config, connectionTimeoutMillis: connectMillis })
      }
    }
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new Pg.Pool({
          connectionString: target.url,
          connectionTimeoutMillis: acquireMillis,
          application_name: "ergon",
          Client: Connection,
          ...(options.maxConnections === undefined ? {} : { max: options.maxConnections })
        })
        // (an idle connection the server ended: the pool drops it; the next query opens another)
        pool.on("error", () => undefined)
        return pool
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.timeoutOption(Duration.seconds(1)))
    )
    // The first connection, under the connect timeout, so an unreachable server or a wrong
    // password fails here, not at the first query. The outer timeout is a backstop.
    yield* Effect.tryPromise(() => pool.query("SELECT 1")).pipe(
      Effect.timeoutFail({
        duration: Duration.sum(timeout.value, Duration.seconds(1)),
        onTimeout: () => `no connection within ${Duration.format(timeout.value)}`
      }),
      Effect.mapError((cause) => openError(where, cause instanceof UnknownException ? cause.error : cause, secrets))
    )
    const client = yield* PgClient.fromPool({ acquire: Effect.succeed(pool), applicationName: "ergon" }).pipe(
      Effect.mapError((cause) => openError(where, cause, secrets))
    )
    if (schema !== undefined) {
      // Two processes may create the schema at once: the loser sees it on the retry.
      yield* client.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`).withoutTransform.pipe(
        Effect.retry({ times: 1 }),
        Effect.mapError((cause) => openError(`${where} (creating the schema '${schema}')`, cause, secrets))
      )
    }
    return client
  }).pipe(Effect.catchAllDefect((defect) => Effect.fail(openError("", defect, rawSecrets(options)))))

/**
 * Connects to PostgreSQL, checks the connection, creates the `schema` when one is given, applies
 * the store's migrations, and provides `ExecutionLog`, plus the `SqlClient` and `PgClient` it
 * opened (for tools, tests, and writes that share a transaction with `schedule`).
 *
 * Fails fast with a `StoreError` whose `operation` is `"open"` when the database cannot be
 * reached (naming host and port) or refuses the credentials (naming the user), and `"migrate"`
 * when the migrations fail. The pool is closed when the Layer's scope closes.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options
): Layer.Layer<ExecutionLog | SqlClient.SqlClient | PgClient.PgClient, StoreError> => {
  const client = Layer.scopedContext(
    Effect.map(open(options), (client) =>
      Context.make(PgClient.PgClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
  return Layer.provideMerge(store(options), client)
}

// The SQL store, plus `changes` from LISTEN on the store's channel, kept to this store's schema.
const store = (options: Options): Layer.Layer<ExecutionLog, StoreError, PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.effect(
    ExecutionLog,
    Effect.gen(function*() {
      yield* ExecutionLogSql.migrate
      const backend = yield* ExecutionLogSql.makeWith({ groupCommit: options.groupCommit })
      const client = yield* PgClient.PgClient
      const rows = yield* client.unsafe<{ readonly schema: string | null }>(`SELECT current_schema() AS schema`)
        .withoutTransform.pipe(Effect.mapError((cause) => ExecutionLogSql.storeError("open", cause)))
      const schema = rows[0]?.schema ?? "public"
      // (the URL parsed when the pool was opened)
      const target = targetOf(options) as Target
      return yield* ExecutionLogSql.withLimits(
        { ...backend, changes: changes(client, target, schema) },
        { maxPayloadBytes: options.maxPayloadBytes, maxDepth: options.maxDepth }
      )
    })
  )

const liveClock = Clock.make()

// How often the listening connection is checked, and how long an answer may take.
const pingEvery = Duration.seconds(5)
const pingTimeout = Duration.seconds(5)
const pingRetry = Duration.millis(200)

/**
 * The payloads of `NOTIFY`s on the store's channel, heard on a connection of its own, opened for
 * the stream and closed with it. Not `PgClient.listen`: node-postgres emits `'error'` when the
 * server ends a connection (a restart, `pg_terminate_backend`, `57P01`), also while the client is
 * being closed, and `@effect/sql-pg` takes its listener off before it closes its listening client,
 * so an `'error'` in between had no listener and killed the process. Here the listener stays on
 * the client for its whole life: an error while the stream runs fails it (and the follower
 * subscribes again), one while it closes is ignored.
 */
const listen = (target: Target, listenError: (cause: unknown) => StoreError): Stream.Stream<string, StoreError> =>
  Stream.asyncScoped<string, StoreError>((emit) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const connection = new Pg.Client({ connectionString: target.url, application_name: "ergon-listen" })
          let closed = false
          connection.on("error", (cause) => {
            if (!closed) void emit.fail(listenError(scrubbed(cause, target.secrets)))
          })
          connection.on("end", () => {
            if (!closed) void emit.fail(listenError("the listening connection was closed by the server"))
          })
          connection.on("notification", (message) => void emit.single(message.payload ?? ""))
          const close = () => {
            closed = true
            return connection.end().catch(() => undefined)
          }
          try {
            await connection.connect()
            await connection.query(`LISTEN ${Migrations.notifyChannel}`)
          } catch (cause) {
            await close()
            throw cause
          }
          return close
        },
        catch: (cause) => listenError(scrubbed(cause, target.secrets))
      }),
      (close) => Effect.promise(close).pipe(Effect.timeoutOption(Duration.seconds(1)))
    )
  )

/**
 * The store's notifications (see the `2_notify` migration) for `schema`, as a stream of "look
 * again", heard on a listening connection of their own (see `listen`). A connection can also die
 * without a word (a half-open TCP connection), so it is checked: a ping is sent on the channel
 * every few seconds and must come back within `pingTimeout`, or the stream fails with a
 * `StoreError` (`operation: "listen"`), and the follower subscribes again on a new connection. The
 * first answer also emits: notifications sent before the subscription was listening (or while it
 * was down) are not lost, since the follower looks again then.
 */
const changes = (client: PgClient.PgClient, target: Target, schema: string): Stream.Stream<void, StoreError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const token = `ping ${crypto.randomUUID()} `
    let round = 0
    let answered = yield* Deferred.make<void>()
    const listenError = (cause: unknown) => ExecutionLogSql.storeError("listen", cause, "listening for changes")
    // Sends pings until the current one comes back (the first may go out before LISTEN is active).
    const ping = Effect.suspend(() => {
      const current = answered
      // Not `client.notify`: it sends `NOTIFY channel, $1`, which PostgreSQL cannot bind.
      // Never cancelled mid-flight when the answer wins the race: a cancel (pg_cancel_backend)
      // may land on the next statement of that pooled connection instead, another flow's.
      const send = Effect.disconnect(Effect.uninterruptible(Effect.suspend(() =>
        client.unsafe(`SELECT pg_notify($1, $2)`, [Migrations.notifyChannel, `${token}${round}`]).withoutTransform
      )))
      return Effect.raceFirst(
        Deferred.await(current),
        Effect.forever(Effect.zipRight(send, Effect.sleep(pingRetry)))
      ).pipe(
        Effect.timeoutFail({
          duration: pingTimeout,
          onTimeout: () => listenError(`no answer to a ping within ${Duration.format(pingTimeout)}`)
        }),
        Effect.mapError((error) => error instanceof StoreError ? error : listenError(error))
      )
    })
    const heard = listen(target, listenError).pipe(
      Stream.mapEffect((payload) => {
        if (payload === schema) return Effect.succeed(true)
        if (payload === `${token}${round}`) return Effect.as(Deferred.succeed(answered, undefined), round === 0)
        return Effect.succeed(false)
      }),
      Stream.filter((wake) => wake),
      Stream.as(undefined)
    )
    // On the real clock, even under `TestClock`: this is about the connection, not durable time.
    const watchdog = Stream.fromEffect(
      Effect.withClock(
        Effect.forever(
          Effect.gen(function*() {
            yield* ping
            yield* Effect.sleep(pingEvery)
            round++
            answered = yield* Deferred.make<void>()
          })
        ),
        liveClock
      )
    ).pipe(Stream.drain)
    return Stream.merge(heard, watchdog, { haltStrategy: "either" })
  }))

/**
 * Like `layer`, with the options read from Effect's `Config`. Without an argument it reads the
 * connection URL from `ERGON_DATABASE_URL`; otherwise it reads the given options, for example
 * `layerConfig({ url: Config.redacted("DATABASE_URL"), schema: Config.string("ERGON_SCHEMA") })`.
 * Fails with a `ConfigError` when the configuration is missing or invalid.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options> = { url: Config.redacted("ERGON_DATABASE_URL") }
): Layer.Layer<
  ExecutionLog | SqlClient.SqlClient | PgClient.PgClient,
  StoreError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
