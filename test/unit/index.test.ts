/** The entry point the Functions host loads: settings checked at start-up, then both functions registered. */
import { app } from "@azure/functions";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const SETTINGS = {
  SENTINEL_SUBSCRIPTION_ID: "3db968d7-cad1-4856-a953-89d2160c03a5",
  SENTINEL_RESOURCE_GROUP: "rg-sentinel",
  SENTINEL_WORKSPACE_NAME: "law-sentinel-prod",
  SENTINEL_RULE_IDS: "ef7869b2-7a80-4ed3-ad63-546ce5953647",
  STATE_TABLE_CONNECTION: "UseDevelopmentStorage=true",
};

describe("src/index.ts", () => {
  const saved = { ...process.env };
  beforeEach(() => {
    vi.resetModules();
    for (const key of Object.keys(SETTINGS)) delete process.env[key];
    delete process.env.SWEEP_SCHEDULE;
    for (const key of ["WEBHOOK_ALLOWED_CALLER", "WEBHOOK_APP_ID", "WEBHOOK_TENANT_ID", "AZURE_TENANT_ID"]) delete process.env[key];
  });
  afterEach(() => {
    process.env = { ...saved };
    vi.restoreAllMocks();
  });

  it("registers the webhook (function key, POST only) and the timer with the configured schedule", async () => {
    const http = vi.spyOn(app, "http").mockImplementation(() => undefined);
    const timer = vi.spyOn(app, "timer").mockImplementation(() => undefined);
    Object.assign(process.env, SETTINGS, { SWEEP_SCHEDULE: "0 */5 * * * *" });

    await import("../../src/index");

    expect(http).toHaveBeenCalledTimes(1);
    expect(http.mock.calls[0]?.[0]).toBe("remediateIncident");
    expect(http.mock.calls[0]?.[1]).toMatchObject({ methods: ["POST"], authLevel: "function" });
    expect(timer).toHaveBeenCalledTimes(1);
    expect(timer.mock.calls[0]?.[0]).toBe("sweepIncidents");
    expect(timer.mock.calls[0]?.[1]).toMatchObject({ schedule: "0 */5 * * * *" });
  });

  it("with WEBHOOK_ALLOWED_CALLER the webhook takes no function key: the code checks the caller's token", async () => {
    const http = vi.spyOn(app, "http").mockImplementation(() => undefined);
    vi.spyOn(app, "timer").mockImplementation(() => undefined);
    Object.assign(process.env, SETTINGS, {
      WEBHOOK_ALLOWED_CALLER: "0f7c2d4e-5b6a-4c3d-8e9f-a1b2c3d4e5f6",
      WEBHOOK_APP_ID: "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      WEBHOOK_TENANT_ID: "c3620297-2040-43b2-a1bc-c604f7f8c54e",
    });

    await import("../../src/index");

    expect(http.mock.calls[0]?.[1]).toMatchObject({ methods: ["POST"], authLevel: "anonymous" });
  });

  it("refuses to start without a required setting, naming it, and registers nothing", async () => {
    const http = vi.spyOn(app, "http").mockImplementation(() => undefined);
    const timer = vi.spyOn(app, "timer").mockImplementation(() => undefined);
    Object.assign(process.env, SETTINGS);
    delete process.env.SENTINEL_RULE_IDS;

    await expect(import("../../src/index")).rejects.toThrow("SENTINEL_RULE_IDS");
    expect(http).not.toHaveBeenCalled();
    expect(timer).not.toHaveBeenCalled();
  });
});
