import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll } from "@effect/vitest"
import * as Layer from "effect/Layer"
import * as String from "effect/String"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as ExecutionLog from "../src/ExecutionLog.js"
import * as ExecutionLogSql from "../src/sql/ExecutionLogSql.js"
import * as Sqlite from "../src/sqlite.js"
import { suite } from "./conformance/backend.js"

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-conformance-"))
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }))

suite("ExecutionLog conformance: memory", ExecutionLog.layerMemory)

suite("ExecutionLog conformance: SQLite file", Sqlite.layer({ filename: path.join(directory, "store.db") }))

// The SQL store over a client the user configured with name transforms: it must not care.
suite(
  "ExecutionLog conformance: SQL store over a SqliteClient with name transforms",
  ExecutionLogSql.layer.pipe(
    Layer.provide(
      SqliteClient.layer({
        filename: path.join(directory, "transforms.db"),
        transformResultNames: String.snakeToCamel,
        transformQueryNames: String.camelToSnake
      })
    )
  )
)
