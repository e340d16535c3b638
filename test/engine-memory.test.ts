import { ExecutionLog } from "../src/index.js"
import { suite } from "./conformance/engine.js"

suite("memory", ExecutionLog.layerMemory)
