/**
 * sha256 for the store: whole buffers through WebCrypto (native, several times faster than JavaScript) where the
 * runtime has it, and `@noble/hashes` otherwise; streams (downloads) always through `@noble/hashes`, since WebCrypto
 * cannot hash incrementally.
 */
import { sha256 } from '@noble/hashes/sha2.js';

export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** Lower-case hex sha256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) return toHex(new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
  return toHex(sha256(bytes));
}
