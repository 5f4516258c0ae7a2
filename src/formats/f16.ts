// IEEE half precision (f16) ↔ float32 bit conversions, exact in the f16 → f32 direction, round-to-nearest-even back.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

let table: Float32Array | undefined;

/** Float32 value of every f16 bit pattern, built once: decoding is then one lookup per element. */
function f16Table(): Float32Array {
  if (table) return table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) bits[h] = f16BitsToF32Bits(h);
  table = new Float32Array(bits.buffer);
  return table;
}

// Built on bit patterns rather than arithmetic so that NaN payloads and -0 survive exactly.
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal f16: normalise into the (much wider) f32 exponent range.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** The float value of an f16 bit pattern (exact). */
export function f16ToF32(bits: number): number {
  return f16Table()[bits & 0xffff];
}

/** The f16 bit pattern nearest to x (x is first rounded to float32), ties to even; overflow → ±Inf, NaN → quiet NaN. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is subnormal (or zero): f16 units of 2^-24, i.e. the 24-bit significand shifted right by 14 - e.
    if (e < -10) return sign;
    const sig = mant | 0x800000;
    const shift = 14 - e;
    const rem = sig & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    let m = sig >>> shift;
    if (rem > half || (rem === half && (m & 1) !== 0)) m++;
    return sign | m; // m may carry to 0x400, which is exactly the smallest normal
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is the correct rounding (up to Inf)
  return sign | h;
}

/** Decodes f16 bit patterns to float32 values. */
export function decodeF16(src: Uint16Array): Float32Array {
  const t = f16Table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** Encodes float32 values as f16 bit patterns (round to nearest even). */
export function encodeF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]);
  return out;
}
