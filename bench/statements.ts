/**
 * Counts the SQL statements this process sends to SQLite (better-sqlite3, under
 * @effect/sql-sqlite-node and the group commit) and to PostgreSQL (node-postgres, under
 * @effect/sql-pg and ergon/pg), by wrapping the drivers' prototypes once (`install()`).
 *
 * A count tells apart the statements that do work from transaction control (BEGIN, COMMIT,
 * ROLLBACK, SAVEPOINT, RELEASE), and counts transactions: each BEGIN, plus each statement run
 * outside an explicit transaction (it commits by itself: a durable commit when it writes, none
 * when it only reads). On SQLite a connection's `inTransaction` says which; on PostgreSQL the
 * counter follows each client's BEGIN and COMMIT/ROLLBACK.
 */
import Database from "better-sqlite3"
import pg from "pg"

export interface StatementCount {
  /** Statements other than transaction control. */
  readonly statements: number
  /** BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE. */
  readonly control: number
  /** Transactions: explicit ones (BEGIN) and statements that committed on their own. */
  readonly transactions: number
  /** Explicit transactions (BEGIN). */
  readonly begins: number
  /** Statements outside an explicit transaction that write (each its own commit). */
  readonly loneWrites: number
  /** Statements outside an explicit transaction that only read (SELECT, or WITH … SELECT). */
  readonly loneReads: number
}

const control = /^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|START\s+TRANSACTION)\b/i
const begin = /^\s*(BEGIN|START\s+TRANSACTION)\b/i
const finish = /^\s*(COMMIT|END|ROLLBACK)\b(?!\s+TO)/i
const read = /^\s*(SELECT\b|WITH\b(?![\s\S]*\b(INSERT|UPDATE|DELETE)\b))/i

let statements = 0
let controls = 0
let transactions = 0
let begins = 0
let loneWrites = 0
let loneReads = 0
let installed = false

/** Classifies one statement; `inTransaction` is whether it runs inside an explicit transaction. */
const countOne = (text: string, inTransaction: boolean): boolean => {
  if (control.test(text)) {
    controls++
    if (begin.test(text)) {
      transactions++
      begins++
      return true
    }
    return finish.test(text) ? false : inTransaction
  }
  statements++
  if (!inTransaction) {
    transactions++
    if (read.test(text)) loneReads++
    else loneWrites++
  }
  return inTransaction
}

/**
 * Classifies SQL text sent at once: usually one statement, but a simple query (no parameters) may
 * hold several separated by `;` ("BEGIN; …; COMMIT"), each counted (a `;` inside a string literal
 * would be miscounted: the engine's SQL has none).
 */
const count = (text: string, inTransaction: boolean): void => {
  if (!text.includes(";")) {
    countOne(text, inTransaction)
    return
  }
  let open = inTransaction
  for (const part of text.split(";")) {
    if (part.trim() !== "") open = countOne(part, open)
  }
}

const installSqlite = () => {
  const db = new Database(":memory:")
  const proto = Object.getPrototypeOf(db.prepare("SELECT 1")) as Record<string, unknown>
  const dbProto = Object.getPrototypeOf(db) as Record<string, unknown>
  db.close()
  // `exec` runs SQL text without a statement object (e.g. a BEGIN IMMEDIATE sent that way)
  const exec = dbProto["exec"] as (this: { readonly inTransaction: boolean }, text: string) => unknown
  dbProto["exec"] = function(this: { readonly inTransaction: boolean }, text: string) {
    count(text, this.inTransaction)
    return exec.call(this, text)
  }
  for (const method of ["run", "get", "all", "iterate"]) {
    const original = proto[method] as (...args: Array<unknown>) => unknown
    proto[method] = function(this: { readonly source: string; readonly database: { readonly inTransaction: boolean } }, ...args: Array<unknown>) {
      count(this.source, this.database.inTransaction)
      return original.apply(this, args)
    }
  }
}

const openTransactions = new WeakSet<object>()

const installPg = () => {
  const proto = pg.Client.prototype as unknown as Record<string, unknown>
  const original = proto["query"] as (...args: Array<unknown>) => unknown
  proto["query"] = function(this: object, config: unknown, ...rest: Array<unknown>) {
    const text = typeof config === "string"
      ? config
      : typeof config === "object" && config !== null && typeof (config as { text?: unknown }).text === "string"
      ? (config as { text: string }).text
      : ""
    count(text, openTransactions.has(this))
    if (begin.test(text)) openTransactions.add(this)
    else if (finish.test(text)) openTransactions.delete(this)
    return original.call(this, config, ...rest)
  }
}

export const sqlStatements = {
  /** Wraps the drivers (once per process); counts start from here. */
  install(): void {
    if (installed) return
    installed = true
    installSqlite()
    installPg()
  },
  /** Statements other than transaction control, so far. */
  get count(): number {
    return statements
  },
  snapshot(): StatementCount {
    return { statements, control: controls, transactions, begins, loneWrites, loneReads }
  },
  /** What was counted since `since`. */
  since(since: StatementCount): StatementCount {
    return {
      statements: statements - since.statements,
      control: controls - since.control,
      transactions: transactions - since.transactions,
      begins: begins - since.begins,
      loneWrites: loneWrites - since.loneWrites,
      loneReads: loneReads - since.loneReads
    }
  }
}
