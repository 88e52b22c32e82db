/**
 * Sealed `requestState` for calls the gateway parks while a modern client answers an input
 * request (2026-07-28 basic/patterns/mrtr "Security Considerations": requestState is
 * attacker-controlled input, so it is integrity-protected, bound to who may use it, and short-lived).
 *
 * AES-GCM. Without a secret the key lives only in the memory of the session object that parked
 * the call: the parked call itself lives there too, so a state that outlives the key could not
 * resume anything anyway. The Worker's stateless home (worker/stateless/home.ts) issues
 * states in one isolate that must open in another, so there the key is derived (HKDF-SHA-256)
 * from the `STATE_SECRET` Worker secret. Tenant and principal are the associated data: a state
 * presented by anyone else fails authentication. Each parked state names one park, consumed on
 * first use, so a replay finds nothing; a pass-through state carries an id `j` for the replay
 * record its home keeps (worker/stateless/spent.ts).
 */
import { fromBase64, toBase64Url } from "../protocol/encoding.ts";

/** How long a parked call waits for the client's retry. */
export const REQUEST_STATE_TTL_MS = 5 * 60_000;
const IV_BYTES = 12;

export interface SealedState {
  /** The parked call this state resumes; "" for a backend's own state passed through. */
  park: string;
  exp: number;
  /** Pass-through: the backend's own requestState (absent when it sent none). */
  bs?: string;
  /** Pass-through: the method and item the state was issued for, so it cannot serve another. */
  m?: string;
  n?: string;
  /** Pass-through: a random id, so the home that opens it can refuse a second use. */
  j?: string;
  /** The gateway's own input request (a URL to open, engine/modern.ts): the retry runs the call afresh, with nothing passed on. */
  g?: 1;
  /** The gateway's own confirmation form (engine/approvals.ts): the approval the retry's answer is for. */
  ap?: string;
}

export class StateSealer {
  readonly #key: Promise<CryptoKey>;

  /** A key of this object's own, or, given a secret, the key every holder of that secret derives. */
  constructor(secret?: string) {
    this.#key = secret ? deriveKey(secret) : (crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]) as Promise<CryptoKey>);
  }

  async seal(state: SealedState, boundTo: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const data = new TextEncoder().encode(JSON.stringify(state));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(boundTo) }, await this.#key, data),
    );
    const out = new Uint8Array(iv.byteLength + sealed.byteLength);
    out.set(iv, 0);
    out.set(sealed, iv.byteLength);
    return toBase64Url(out);
  }

  /** The state, or null when it is forged, tampered, bound to someone else or expired. */
  async open(text: string, boundTo: string, now = Date.now()): Promise<SealedState | null> {
    const bytes = /^[A-Za-z0-9_-]{1,6000}$/.test(text) ? fromBase64(text) : null;
    if (!bytes || bytes.byteLength <= IV_BYTES + 16 || bytes.byteLength > 4096) return null;
    try {
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.slice(0, IV_BYTES), additionalData: new TextEncoder().encode(boundTo) },
        await this.#key,
        bytes.slice(IV_BYTES),
      );
      const state = JSON.parse(new TextDecoder().decode(plain)) as SealedState;
      return typeof state.park === "string" && typeof state.exp === "number" && state.exp > now ? state : null;
    } catch {
      return null;
    }
  }
}

/** HKDF-SHA-256 (RFC 5869) from the secret to an AES-256-GCM key, with a fixed label so the secret could serve other uses. */
async function deriveKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new TextEncoder().encode("edge-mcp-gateway"), info: new TextEncoder().encode("requestState v1") },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}
