import { ExecutionLog } from "../src/index.js"
import { suite } from "./conformance/longlived.js"

suite("memory", ExecutionLog.layerMemory)
