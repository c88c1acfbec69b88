/**
 * The stack's TLS: a local certificate authority made at stack-up, and each Timescale node's
 * certificate signed by it for the names the bridge dials (127.0.0.1 and localhost), so a link
 * can verify the node (`verify-full`) as it would a node with a certificate from a public CA.
 */
import { existsSync as exists } from "node:fs";
import { join } from "node:path";
import { run } from "./postgres.ts";

/** A key and its certificate, as PEM files. */
export interface KeyPair {
  key: string;
  cert: string;
}

/** The names the stack's nodes are dialled by. */
export const NODE_NAMES = "IP:127.0.0.1,DNS:localhost";

const keyAndRequest = (
  key: string,
  subject: string,
) => ["-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", subject];

/** Makes a certificate authority in `dir` as `<name>.key` and `<name>.crt`. */
export async function makeCa(dir: string, name: string): Promise<KeyPair> {
  const pair = { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
  await run("openssl", [
    ...["req", "-x509", "-days", "825", ...keyAndRequest(pair.key, `/CN=fdw-bridge ${name}`)],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-out", pair.cert],
  ]);
  Deno.chmodSync(pair.key, 0o600);
  return pair;
}

/**
 * Makes a server certificate for `names` (subjectAltName entries, e.g. `DNS:localhost`), signed
 * by `ca`, in `dir` as `<name>.key` and `<name>.crt`.
 */
export async function makeServerCertificate(
  dir: string,
  name: string,
  ca: KeyPair,
  names = NODE_NAMES,
): Promise<KeyPair> {
  const pair = { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
  const request = join(dir, `${name}.csr`);
  const subject = `/CN=${names.split(",")[0].replace(/^\w+:/, "")}`;
  await run("openssl", [
    ...["req", "-new", ...keyAndRequest(pair.key, subject)],
    ...["-addext", `subjectAltName=${names}`, "-out", request],
  ]);
  await run("openssl", [
    ...["x509", "-req", "-in", request, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial"],
    ...["-days", "825", "-copy_extensions", "copy", "-out", pair.cert],
  ]);
  Deno.removeSync(request);
  Deno.chmodSync(pair.key, 0o600);
  return pair;
}

/**
 * The stack's CA (`ca.crt`, the bundle the Supabase side trusts) and the nodes' certificate
 * (`server.crt`), made in `dir` unless the CA is there. True when they were made.
 */
export async function makeCertificates(dir: string): Promise<boolean> {
  if (exists(join(dir, "ca.crt"))) return false;
  const ca = await makeCa(dir, "ca");
  await makeServerCertificate(dir, "server", ca);
  return true;
}
