import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Sqlite from "ergon/sqlite"
import { suite } from "./conformance/engine.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-engine-"))

suite("sqlite (synchronous=FULL)", Sqlite.layer({ filename: path.join(dir, "full.db") }))
suite("sqlite (synchronous=NORMAL)", Sqlite.layer({ filename: path.join(dir, "normal.db"), synchronous: "NORMAL" }))
