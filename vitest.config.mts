import { defineConfig } from "vitest/config";
import { join } from "node:path";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The fake tenant's certificate is made once, before any worker starts (test/global-setup.ts)...
    globalSetup: ["test/global-setup.ts"],
    // ...and trusted by every worker, which must know it at process start (Node reads
    // NODE_EXTRA_CA_CERTS only then). Real clients then speak real TLS to the fake.
    // Same path as DEFAULT_CERT_DIR in test/fake-tenant/cert.ts.
    env: { NODE_EXTRA_CA_CERTS: join(import.meta.dirname, ".fake-tenant", "cert.pem") },
    pool: "forks",
    // The JSON results feed the one-line tally that .ci/run prints.
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
    testTimeout: 20_000,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      reporter: ["text-summary", "text"],
      thresholds: { lines: 85, functions: 85, branches: 75, statements: 85 },
    },
  },
});
