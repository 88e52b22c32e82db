/** A signing key for tests: tenants trust its public half, tests mint tokens with the private one. */
import { exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from "jose";

export const TEST_ISSUER = "urn:edge-mcp-gateway:test";

export interface TestSigner {
  publicJwk: JWK;
  /** `claims` adds any other claims (azp, act, ...). */
  token(claims: { sub: string; audience: string; roles?: string[]; ttlSeconds?: number; claims?: Record<string, unknown> }): Promise<string>;
}

export async function testSigner(): Promise<TestSigner> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = `test-${Math.random().toString(36).slice(2, 10)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const key: CryptoKey = privateKey;
  return {
    publicJwk,
    token: ({ sub, audience, roles, ttlSeconds = 600, claims = {} }) =>
      new SignJWT({ ...claims, ...(roles ? { roles } : {}) })
        .setProtectedHeader({ alg: "ES256", kid })
        .setIssuer(TEST_ISSUER)
        .setAudience(audience)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key),
  };
}

export function jwtAuth(signer: TestSigner, audience: string) {
  return { jwt: { issuer: TEST_ISSUER, audience, jwks: { keys: [signer.publicJwk] }, algorithms: ["ES256"] } };
}
