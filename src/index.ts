/**
 * Entry point the Functions host loads (package.json "main"). Settings are validated here, at
 * start-up, so a missing or bad setting stops the host with a message naming each one.
 */
import { loadConfig } from "./config";
import "./functions/remediateIncident";
import "./functions/sweepIncidents";

loadConfig(process.env);
