// bfloat16 bit helpers: bf16 is the top 16 bits of an IEEE float32, rounded to nearest even.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float value of a bf16 bit pattern (exact: every bf16 is a float32). */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** The bf16 bit pattern nearest to x (rounded first to float32, then to nearest even); NaN → quiet NaN, ±Inf kept. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  // NaN: keep sign and payload top bits, force the quiet bit so truncation cannot make it Inf.
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x0040;
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry into the exponent is correct
  // (rounds up to the next binade, or to Inf above the largest bf16).
  const rounding = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + rounding) >>> 16) & 0xffff;
}
