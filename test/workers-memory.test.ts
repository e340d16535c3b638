import { ExecutionLog } from "../src/index.js"
import { suite } from "./conformance/workers.js"

suite("memory", ExecutionLog.layerMemory)
