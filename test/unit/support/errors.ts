/** Shared by the stage tests: a request, and the GatewayError a check throws, by kind and status. */
import { expect } from "vitest";
import { GatewayError, type GatewayErrorKind } from "../../../worker/protocol/errors.ts";

export function req(url: string, headers: Record<string, string> = {}, init: RequestInit = {}): Request {
  return new Request(url, { ...init, headers });
}

/** The GatewayError `fn` throws; anything else (or nothing) fails the test. */
export function failure(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error("expected a GatewayError");
}

export function expectKind(error: GatewayError, kind: GatewayErrorKind, status: number): void {
  expect(error.kind).toBe(kind);
  expect(error.status).toBe(status);
}
