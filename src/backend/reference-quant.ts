// Reference products with quantised weights: dequantise with the GGUF block decoders, then the reference matmul.
import type { Backend } from './backend.ts';
import { referenceLayers } from './reference-layers.ts';
import { QUANT_BLOCKS, type QuantDType } from '../tensor/dtype.ts';
import { dequantize, dequantizeInto, type QuantType } from '../formats/gguf-quant.ts';

const ggmlName = (t: QuantDType): QuantType => t.toUpperCase() as QuantType;

export const referenceQuant: Pick<Backend, 'matmulQuant' | 'dequantRows'> = {
  matmulQuant({ a, aOffset, w, type, transW, c, cOffset, m, n, k, accumulate }) {
    const values = dequantize(ggmlName(type), w, n * k); // (n, k) when transW, else (k, n)
    referenceLayers.matmul({ a, aOffset, strideA: 0, transA: false, b: values, bOffset: 0, strideB: 0, transB: transW, c, cOffset, strideC: 0, batch: 1, m, n, k, accumulate });
  },

  dequantRows(w, type, rowLength, rows, out) {
    const { block, bytes } = QUANT_BLOCKS[type];
    const rowBytes = (rowLength / block) * bytes;
    const total = w.length / rowBytes;
    rows.forEach((r, i) => {
      if (!(r >= 0 && r < total)) throw new RangeError(`dequantRows: row ${r} at ${i} is outside [0, ${total})`);
      dequantizeInto(ggmlName(type), w.subarray(r * rowBytes, (r + 1) * rowBytes), rowLength, out, i * rowLength);
    });
  },
};
