// Decoding of GGUF tensor payloads that are not plain float32: F16 and Q8_0 to float32 (BF16 stays as bits).
import { decodeF16 } from './f16.ts';

/** Q8_0 block: an f16 scale d followed by 32 int8 quants; value = d · q. */
const Q8_0_BLOCK = 32;
const Q8_0_BYTES = 2 + Q8_0_BLOCK;

/** Little-endian f16 bytes → float32 values. */
export function dequantizeF16(bytes: Uint8Array): Float32Array {
  const bits = new Uint16Array(bytes.length >>> 1);
  new Uint8Array(bits.buffer).set(bytes.subarray(0, bits.length * 2));
  return decodeF16(bits);
}

/** Q8_0 blocks → float32 values (`bytes.length` must be a whole number of 34-byte blocks). */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  const nBlocks = Math.floor(bytes.length / Q8_0_BYTES);
  const out = new Float32Array(nBlocks * Q8_0_BLOCK);
  const scales = new Uint16Array(nBlocks);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < nBlocks; b++) {
    const at = b * Q8_0_BYTES;
    scales[b] = bytes[at] | (bytes[at + 1] << 8);
  }
  const d = decodeF16(scales);
  for (let b = 0; b < nBlocks; b++) {
    const at = b * Q8_0_BYTES + 2;
    const o = b * Q8_0_BLOCK;
    // f16 × int8 is exact in float32 (at most 19 significant bits), matching ggml's float product.
    for (let j = 0; j < Q8_0_BLOCK; j++) out[o + j] = d[b] * q[at + j];
  }
  return out;
}
