import type { TestProject } from "vitest/node";
import { startAzurite } from "./fake-tenant/azurite";
import { ensureCertificate } from "./fake-tenant/cert";

declare module "vitest" {
  export interface ProvidedContext {
    /** STATE_TABLE_CONNECTION of the Azurite Table service every test shares (each test uses its own table). */
    stateConnection: string;
  }
}

/**
 * Before the test workers start: makes (or reuses) the fake tenant's TLS certificate, and starts
 * one Azurite Table service, stopped after the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureCertificate();
  const azurite = await startAzurite();
  project.provide("stateConnection", azurite.connectionString);
  return () => azurite.stop();
}
