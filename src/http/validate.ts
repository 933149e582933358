/** Small, explicit validators: each failure is a 400 naming the field. */
import { ApiError } from "./controller.ts";

export type Json = Record<string, unknown>;

export function asObject(body: unknown): Json {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw new ApiError(400, "request body must be a JSON object", "body");
  return body as Json;
}

export function reqString(o: Json, field: string, max = 256): string {
  const v = o[field];
  if (typeof v !== "string" || v.length === 0)
    throw new ApiError(400, `${field} is required and must be a non-empty string`, field);
  if (v.length > max) throw new ApiError(400, `${field} is longer than ${max} characters`, field);
  return v;
}

export function optString(o: Json, field: string, max = 256): string | undefined {
  if (o[field] === undefined || o[field] === null) return undefined;
  return reqString(o, field, max);
}

export function reqInt(o: Json, field: string, min: number, max: number): number {
  const v = o[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ApiError(400, `${field} must be an integer from ${min} to ${max}`, field);
  }
  return v;
}

export function optInt(o: Json, field: string, min: number, max: number): number | undefined {
  if (o[field] === undefined || o[field] === null) return undefined;
  return reqInt(o, field, min, max);
}

export function optBool(o: Json, field: string): boolean | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new ApiError(400, `${field} must be true or false`, field);
  return v;
}

export function oneOf<T extends string>(o: Json, field: string, values: readonly T[], dflt?: T): T {
  const v = o[field];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
    throw new ApiError(400, `${field} must be one of ${values.join(", ")}`, field);
  }
  return v as T;
}

export function rejectUnknown(o: Json, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ApiError(400, `unknown field ${k}`, k);
  }
}

export function base64Bytes(o: Json, field: string, maxBytes: number): Uint8Array {
  const v = o[field];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw new ApiError(400, `${field} must be base64`, field);
  }
  const b = Buffer.from(v, "base64");
  if (b.length > maxBytes) throw new ApiError(400, `${field} decodes to more than ${maxBytes} bytes`, field);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
