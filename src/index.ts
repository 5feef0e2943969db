/**
 * Entry point the Functions host loads (package.json "main"). Settings are validated here, at
 * start-up, so a missing or bad setting stops the host with a message naming each one; then the
 * two functions are registered.
 */
import { loadConfig } from "./config";
import { registerRemediate } from "./functions/remediateIncident";
import { registerSweep } from "./functions/sweepIncidents";

const config = loadConfig(process.env);
registerRemediate(config);
registerSweep(config.sweep.schedule);
