import { ExecutionLog } from "../src/index.js"
import { suite } from "./conformance/replay.js"

suite("memory", ExecutionLog.layerMemory)
