import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Sqlite from "ergon/sqlite"
import { suite } from "./conformance/longlived.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-longlived-"))

suite("sqlite", Sqlite.layer({ filename: path.join(dir, "longlived.db") }))
