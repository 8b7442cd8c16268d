/**
 * The value streams' wire format, shared by values-encode.ts and values-decode.ts: the kind byte of
 * a segment, the parameter byte of ValueKind.Int and the limits both sides enforce. See docs/FORMAT.md.
 */
export const enum ValueKind {
  /** One integer value (svarint in `ints`) repeated for every sample. */
  ConstInt = 0,
  /** One value (8 raw bytes in `raw`) repeated for every sample. */
  ConstRaw = 1,
  /** Integer mantissas m with v = m / 10^e (delta, delta-of-delta or plain), maybe with bit corrections and exceptions. */
  Int = 2,
  /** XOR with the previous value's bits, bytes split into 8 planes. */
  FloatXor = 3,
}

/** Mantissas, deltas and timestamps stay below this so zigzagged second differences fit 2^53. */
export const INT_LIMIT = 2 ** 50;
export const MAX_EXPONENT = 15;
export const POW10 = Array.from({ length: MAX_EXPONENT + 1 }, (_, e) => 10 ** e);

// Parameter byte of ValueKind.Int.
export const P_ORDER_SHIFT = 4;
export const P_EXCEPTIONS = 0x40;
export const P_CORRECTIONS = 0x80;
/** Mantissa orders: all equal, delta, delta-of-delta, plain. */
export const ORDER_CONST = 0;
export const ORDER_PLAIN = 3;
/** Largest |correction| of the bits of a value, in units in the last place. */
export const MAX_CORRECTION = 2 ** 30;
export const TWO32 = 2 ** 32;
