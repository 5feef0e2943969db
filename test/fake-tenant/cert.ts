import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { X509Certificate } from "node:crypto";
import { generate } from "selfsigned";

export interface TlsMaterial {
  /** Path of the certificate PEM: give it to client processes as NODE_EXTRA_CA_CERTS. */
  certPath: string;
  cert: string;
  key: string;
}

/** Where the fake tenant keeps its certificate (git-ignored). */
export const DEFAULT_CERT_DIR = resolve(__dirname, "..", "..", ".fake-tenant");

/**
 * A self-signed certificate for 127.0.0.1, made once and reused while valid, so that a
 * client started with NODE_EXTRA_CA_CERTS pointing at it keeps trusting restarted fakes.
 */
export async function ensureCertificate(dir: string = DEFAULT_CERT_DIR): Promise<TlsMaterial> {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = readFileSync(certPath, "utf8");
    const validTo = new Date(new X509Certificate(cert).validTo).getTime();
    if (validTo - Date.now() > 24 * 3600_000) return { certPath, cert, key: readFileSync(keyPath, "utf8") };
  }
  const notBeforeDate = new Date(Date.now() - 3600_000);
  const notAfterDate = new Date(Date.now() + 90 * 24 * 3600_000);
  const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
    ],
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert);
  return { certPath, cert: pems.cert, key: pems.private };
}
