/** ASCII ↔ EBCDIC (code page 037) for the printable ASCII range, as used by SEG-Y textual headers. */
import { ValidationError } from '@provml/schemas';

/**
 * Code page 037 bytes of the printable ASCII characters 0x20 (space) … 0x7E (`~`), in order.
 * Taken from the cp037 codec (e.g. Python's `codecs` `cp037`): space = 0x40, `0`–`9` = 0xF0–0xF9,
 * `A`–`I` = 0xC1–0xC9, `J`–`R` = 0xD1–0xD9, `S`–`Z` = 0xE2–0xE9, `a`–`z` likewise at 0x81–0xA9.
 */
const CP037_PRINTABLE =
  '405a7f7b5b6c507d4d5d5c4e6b604b61f0f1f2f3f4f5f6f7f8f97a5e4c7e6e6f7c' +
  'c1c2c3c4c5c6c7c8c9d1d2d3d4d5d6d7d8d9e2e3e4e5e6e7e8e9bae0bbb06d79' +
  '818283848586878889919293949596979899a2a3a4a5a6a7a8a9c04fd0a1';

/** First and last printable ASCII code. */
const FIRST = 0x20;
const LAST = 0x7e;

/** EBCDIC space, written for padding and read back for every byte outside the table. */
export const EBCDIC_SPACE = 0x40;

/** ASCII code → EBCDIC byte (0 where the ASCII code is not printable). */
const TO_EBCDIC = new Uint8Array(128);
/** EBCDIC byte → ASCII code (space where the byte is not a printable character). */
const TO_ASCII = new Uint8Array(256).fill(FIRST);

for (let a = FIRST; a <= LAST; a++) {
  const e = Number.parseInt(CP037_PRINTABLE.slice((a - FIRST) * 2, (a - FIRST) * 2 + 2), 16);
  TO_EBCDIC[a] = e;
  TO_ASCII[e] = a;
}

/**
 * Encodes printable ASCII text as EBCDIC (code page 037).
 * @throws ValidationError when the text holds a character outside 0x20–0x7E.
 */
export function encodeEbcdic(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const a = text.charCodeAt(i);
    const e = a < 128 ? TO_EBCDIC[a]! : 0;
    if (e === 0) {
      throw new ValidationError(
        `character ${JSON.stringify(text[i])} at position ${i + 1} cannot be written as EBCDIC (printable ASCII only)`,
        [{ path: '', message: `unsupported character at position ${i + 1}` }],
      );
    }
    out[i] = e;
  }
  return out;
}

/** Decodes EBCDIC (code page 037) bytes to ASCII; bytes outside the printable range become spaces. */
export function decodeEbcdic(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(TO_ASCII[b]!);
  return s;
}
