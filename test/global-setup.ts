import { ensureCertificate } from "./fake-tenant/cert";

/** Makes (or reuses) the fake tenant's TLS certificate before the test workers start. */
export default async function setup(): Promise<void> {
  await ensureCertificate();
}
