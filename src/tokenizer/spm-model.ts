// SentencePiece's tokenizer.model (a ModelProto protobuf): the pieces with their scores and types, read and written, so that scores survive GGUF ↔ HF conversion.
import { WhetError } from '../errors.ts';

/** SentencePiece piece types; the same numbers as GGUF's tokenizer.ggml.token_type. */
export const SPM_NORMAL = 1;
export const SPM_UNKNOWN = 2;
export const SPM_CONTROL = 3;
export const SPM_USER_DEFINED = 4;
export const SPM_UNUSED = 5;
export const SPM_BYTE = 6;

export interface SpmPiece {
  piece: string;
  score: number;
  type: number;
}

export interface SpmModel {
  pieces: SpmPiece[];
  /** TrainerSpec.model_type: 1 unigram, 2 BPE. */
  modelType: number;
  byteFallback: boolean;
  /** NormalizerSpec.add_dummy_prefix: prefix the text with a space (llama.cpp's add_space_prefix). */
  addDummyPrefix: boolean;
  unkId?: number;
  bosId?: number;
  eosId?: number;
  padId?: number;
}

// Field numbers from sentencepiece_model.proto.
const MODEL_PIECES = 1;
const MODEL_TRAINER_SPEC = 2;
const MODEL_NORMALIZER_SPEC = 3;
const PIECE_PIECE = 1;
const PIECE_SCORE = 2;
const PIECE_TYPE = 3;
const TRAINER_MODEL_TYPE = 3;
const TRAINER_VOCAB_SIZE = 4;
const TRAINER_BYTE_FALLBACK = 35;
const TRAINER_UNK_ID = 40;
const TRAINER_BOS_ID = 41;
const TRAINER_EOS_ID = 42;
const TRAINER_PAD_ID = 43;
const TRAINER_UNK_PIECE = 45;
const TRAINER_BOS_PIECE = 46;
const TRAINER_EOS_PIECE = 47;
const TRAINER_PAD_PIECE = 48;
const NORMALIZER_NAME = 1;
const NORMALIZER_ADD_DUMMY_PREFIX = 3;
const NORMALIZER_REMOVE_EXTRA_WHITESPACES = 4;
const NORMALIZER_ESCAPE_WHITESPACES = 5;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

class Writer {
  private chunks: number[] = [];
  varint(v: number): void {
    // int32 fields store negative values as 64-bit two's complement (ten bytes).
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      const byte = Number(x & 0x7fn);
      x >>= 7n;
      this.chunks.push(x > 0n ? byte | 0x80 : byte);
    } while (x > 0n);
  }
  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  int(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }
  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_BYTES);
    this.varint(b.length);
    for (const x of b) this.chunks.push(x);
  }
  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }
  float(field: number, v: number): void {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.chunks.push(x);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** Serialises a BPE model the way SentencePiece's trainer does (identity normalisation, whitespace as U+2581). */
export function encodeSpmModel(model: SpmModel): Uint8Array {
  const out = new Writer();
  for (const p of model.pieces) {
    const w = new Writer();
    w.string(PIECE_PIECE, p.piece);
    w.float(PIECE_SCORE, p.score);
    if (p.type !== SPM_NORMAL) w.int(PIECE_TYPE, p.type);
    out.bytes(MODEL_PIECES, w.finish());
  }
  const t = new Writer();
  t.int(TRAINER_MODEL_TYPE, model.modelType);
  t.int(TRAINER_VOCAB_SIZE, model.pieces.length);
  t.int(TRAINER_BYTE_FALLBACK, model.byteFallback ? 1 : 0);
  const ids: [number, number, number | undefined][] = [
    [TRAINER_UNK_ID, TRAINER_UNK_PIECE, model.unkId],
    [TRAINER_BOS_ID, TRAINER_BOS_PIECE, model.bosId],
    [TRAINER_EOS_ID, TRAINER_EOS_PIECE, model.eosId],
    [TRAINER_PAD_ID, TRAINER_PAD_PIECE, model.padId],
  ];
  for (const [idField, pieceField, id] of ids) {
    t.int(idField, id ?? -1);
    if (id !== undefined) t.string(pieceField, model.pieces[id].piece);
  }
  out.bytes(MODEL_TRAINER_SPEC, t.finish());
  const n = new Writer();
  n.string(NORMALIZER_NAME, 'identity');
  n.int(NORMALIZER_ADD_DUMMY_PREFIX, model.addDummyPrefix ? 1 : 0);
  n.int(NORMALIZER_REMOVE_EXTRA_WHITESPACES, 0);
  n.int(NORMALIZER_ESCAPE_WHITESPACES, 1);
  out.bytes(MODEL_NORMALIZER_SPEC, n.finish());
  return out.finish();
}

class Reader {
  pos: number;
  constructor(private readonly buf: Uint8Array, start: number, readonly end: number) {
    this.pos = start;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new WhetError('tokenizer.model is truncated (inside a varint)');
      const byte = this.buf[this.pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new WhetError('tokenizer.model has a malformed varint');
  }
  int32(): number {
    return Number(BigInt.asIntN(32, this.varint()));
  }
  length(): number {
    const len = Number(this.varint());
    if (len > this.end - this.pos) throw new WhetError('tokenizer.model is truncated (a field runs past its end)');
    return len;
  }
  float(): number {
    if (this.end - this.pos < 4) throw new WhetError('tokenizer.model is truncated (inside a float)');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_BYTES) {
      const len = this.length();
      this.pos += len;
    }
    else if (wire === WIRE_FIXED32 || wire === WIRE_FIXED64) {
      const n = wire === WIRE_FIXED32 ? 4 : 8;
      if (this.end - this.pos < n) throw new WhetError('tokenizer.model is truncated');
      this.pos += n;
    } else throw new WhetError(`tokenizer.model has an unsupported protobuf wire type ${wire}`);
  }
  /** Calls `field` for each field until the end; it reads the value from the reader, or returns false to skip it. */
  fields(field: (num: number, wire: number, r: Reader) => boolean): void {
    while (this.pos < this.end) {
      const key = Number(this.varint());
      const num = Math.floor(key / 8);
      const wire = key & 7;
      if (!field(num, wire, this)) this.skip(wire);
    }
    if (this.pos !== this.end) throw new WhetError('tokenizer.model is truncated (a field runs past its message)');
  }
  sub(): Reader {
    const len = this.length();
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }
}

/** Parses tokenizer.model; throws a WhetError on malformed input. */
export function decodeSpmModel(bytes: Uint8Array): SpmModel {
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const string = (r: Reader): string => {
    const len = r.length();
    try {
      return text.decode(bytes.subarray(r.pos, (r.pos += len)));
    } catch {
      throw new WhetError('tokenizer.model holds a string that is not valid UTF-8');
    }
  };
  const pieces: SpmPiece[] = [];
  let modelType = 1;
  let byteFallback = false;
  let addDummyPrefix = true;
  // TrainerSpec's defaults: <unk> 0, <s> 1, </s> 2, no padding.
  let unkId = 0;
  let bosId = 1;
  let eosId = 2;
  let padId = -1;
  new Reader(bytes, 0, bytes.length).fields((num, wire, r) => {
    if (wire !== WIRE_BYTES) return false;
    if (num === MODEL_PIECES) {
      const p: SpmPiece = { piece: '', score: 0, type: SPM_NORMAL };
      r.sub().fields((f, w, pr) => {
        if (f === PIECE_PIECE && w === WIRE_BYTES) p.piece = string(pr);
        else if (f === PIECE_SCORE && w === WIRE_FIXED32) p.score = pr.float();
        else if (f === PIECE_TYPE && w === WIRE_VARINT) p.type = pr.int32();
        else return false;
        return true;
      });
      pieces.push(p);
    } else if (num === MODEL_TRAINER_SPEC) {
      r.sub().fields((f, w, tr) => {
        if (w !== WIRE_VARINT) return false;
        if (f === TRAINER_MODEL_TYPE) modelType = tr.int32();
        else if (f === TRAINER_BYTE_FALLBACK) byteFallback = tr.varint() !== 0n;
        else if (f === TRAINER_UNK_ID) unkId = tr.int32();
        else if (f === TRAINER_BOS_ID) bosId = tr.int32();
        else if (f === TRAINER_EOS_ID) eosId = tr.int32();
        else if (f === TRAINER_PAD_ID) padId = tr.int32();
        else return false;
        return true;
      });
    } else if (num === MODEL_NORMALIZER_SPEC) {
      r.sub().fields((f, w, nr) => {
        if (f !== NORMALIZER_ADD_DUMMY_PREFIX || w !== WIRE_VARINT) return false;
        addDummyPrefix = nr.varint() !== 0n;
        return true;
      });
    } else return false;
    return true;
  });
  const inRange = (id: number): number | undefined => (id >= 0 && id < pieces.length ? id : undefined);
  return { pieces, modelType, byteFallback, addDummyPrefix, unkId: inRange(unkId), bosId: inRange(bosId), eosId: inRange(eosId), padId: inRange(padId) };
}
