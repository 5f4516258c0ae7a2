// Fused grouped-query attention (flash-style): arguments, tile sizes and the per-ISA kernel entry points.
#pragma once
#include <cstdint>

namespace whet {

// Layouts as in src/backend/backend.ts: q, o, go, gq (B, Tq, Hq, D); k, v, gk, gv (B, kvCap, Hkv, D);
// lse (B, Hq, Tq). Query i sits at position Tk - Tq + i.
struct AttnArgs {
  const float* q;
  const float* k;
  const float* v;
  float* o;    // forward writes, backward reads
  float* lse;  // forward writes, backward reads
  const float* go;
  float* gq;
  float* gk;
  float* gv;
  const int32_t* seg;  // optional (B, Tq), only when Tq == Tk
  int64_t B, Tq, Tk, kvCap, Hq, Hkv, D;
  float scale;
  bool causal;
  bool serial = false;  // run on the calling thread (each row of attention_cached)
};

// Both return false only when scratch memory cannot be allocated.
bool attention_forward(const AttnArgs& a);
bool attention_backward(const AttnArgs& a);

// Decoding with one KV cache per sequence (src/backend/backend.ts CachedAttentionArgs): row b's Tq new
// keys and values (new_k, new_v (B, Tq, Hkv, D)) are stored at positions [len[b], len[b] + Tq) of k[b],
// v[b] ((cap[b], Hkv, D)), then its queries q (B, Tq, Hq, D) attend causally to [0, len[b] + Tq) into o.
// Rows run in parallel, each on one thread. False only when scratch memory cannot be allocated.
struct CachedAttnArgs {
  const float* q;
  const float* new_k;
  const float* new_v;
  float* const* k;
  float* const* v;
  const int64_t* cap;
  const int32_t* len;
  float* o;
  int64_t B, Tq, Hq, Hkv, D;
  float scale;
};
bool attention_cached(const CachedAttnArgs& a);

namespace attn {

// A row tile is a run of "rows" r = query * G + head-in-group of one (batch, kv head): the G query
// heads that share a kv head are processed together so each K/V tile is loaded once for all of them.
constexpr int64_t kRowTile = 48;
constexpr int64_t kKeyTile = 64;
// Up to this many rows (decoding), scores are computed as dot products instead of a tiled product.
constexpr int64_t kNarrowRows = 4;
// Buffers that hold D-wide rows are padded to a multiple of the widest vector (16 floats).
constexpr int64_t kPad = 16;

// static: each ISA unit keeps its own copy (no shared inline symbol compiled with AVX flags).
static inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

struct FwdJob {
  int64_t b;
  int64_t kvh0, kvh1;  // kv heads [kvh0, kvh1): one, or (decoding, rows <= kNarrowRows) all of them,
                       // so a long KV cache is read front to back instead of one head's stripes at a time
  int64_t r0, r1;      // rows [r0, r1) of each of those heads, at most kRowTile
  int64_t kt0, kt1;    // key tiles [kt0, kt1)
  // Null: write the final o and lse. Otherwise, per kv head, part_floats(D) floats: the unnormalised
  // output rows (kRowTile × round_up(D, kPad)), then each row's running max (log2 units, kRowTile),
  // then its softmax denominator (kRowTile), for a later merge of key ranges.
  float* part;
};

static inline int64_t part_floats(int64_t D) { return round_up(kRowTile * round_up(D, kPad) + 2 * kRowTile, 16); }

struct BwdJob {
  int64_t b, kvh;
  int64_t kt0, kt1;  // key tiles [kt0, kt1): their gk, gv rows are written
  float* dq;         // (Tq*G) × round_up(D, kPad), zeroed; accumulates dL/dq / scale for this kv head's rows
  const float* di;   // (B, Hq, Tq): rowsum(go ∘ o)
};

struct Kernels {
  int64_t (*fwd_workspace)(const AttnArgs& a);  // floats of scratch one forward job needs
  void (*fwd)(const AttnArgs& a, const FwdJob& job, float* ws);
  int64_t (*bwd_workspace)(const AttnArgs& a);
  void (*bwd)(const AttnArgs& a, const BwdJob& job, float* ws);
};

}  // namespace attn

namespace avx512 { extern const attn::Kernels attention_kernels; }
namespace avx2 { extern const attn::Kernels attention_kernels; }
namespace scalar { extern const attn::Kernels attention_kernels; }

}  // namespace whet
