import { ExecutionLog } from "../src/index.js"
import { suite } from "./conformance/upgrade.js"

suite("memory", ExecutionLog.layerMemory)
