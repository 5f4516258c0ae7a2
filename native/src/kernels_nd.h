// Strided N-d iteration for copyStrided, binary and reduceSum: dims coalesced, then rows walked in threaded chunks.
#pragma once
#include <cstdint>

#include "kernels_args.h"
#include "threadpool.h"

namespace whet {

constexpr int kMaxRank = 16;
constexpr int kMaxOps = 2;

// A shape with the strides of up to two strided operands; one more operand (the output, or reduceSum's input) is
// implied row-major contiguous over the shape.
struct NdLayout {
  int rank = 0;
  int nops = 0;
  int64_t shape[kMaxRank] = {};
  int64_t stride[kMaxOps][kMaxRank] = {};

  int64_t size() const {
    int64_t s = 1;
    for (int d = 0; d < rank; d++) s = sat_mul(s, shape[d]);
    return s;
  }
  int64_t inner() const { return shape[rank - 1]; }
  int64_t rows() const {
    int64_t s = 1;
    for (int d = 0; d + 1 < rank; d++) s *= shape[d];
    return s;
  }
};

// Drops size-1 dims and merges neighbours that every operand walks as one (the implied contiguous operand always
// does). The result has at least one dim; call it only on a non-empty shape.
inline NdLayout coalesce(const NdLayout& in) {
  NdLayout out;
  out.nops = in.nops;
  for (int d = 0; d < in.rank; d++) {
    if (in.shape[d] == 1) continue;
    bool merge = out.rank > 0;
    for (int k = 0; k < in.nops && merge; k++) merge = out.stride[k][out.rank - 1] == in.stride[k][d] * in.shape[d];
    if (merge) {
      out.shape[out.rank - 1] *= in.shape[d];
      for (int k = 0; k < in.nops; k++) out.stride[k][out.rank - 1] = in.stride[k][d];
    } else {
      out.shape[out.rank] = in.shape[d];
      for (int k = 0; k < in.nops; k++) out.stride[k][out.rank] = in.stride[k][d];
      out.rank++;
    }
  }
  if (out.rank == 0) {  // every dim was 1: one element
    out.rank = 1;
    out.shape[0] = 1;
  }
  return out;
}

// True when every element operand k reaches, offset + sum(idx[d]*stride[d]), lies in [0, len). Shape non-empty.
inline bool span_ok(const NdLayout& nd, int k, int64_t offset, int64_t len) {
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < nd.rank; d++) {
    int64_t step = sat_mul(nd.shape[d] - 1, nd.stride[k][d]);
    if (step < 0) lo = sat_add(lo, step);
    else hi = sat_add(hi, step);
  }
  return lo >= 0 && hi < len;
}

// Each operand's offset at the start of an outer row (an odometer over dims [0, rank-1)).
struct RowWalker {
  const NdLayout& nd;
  int64_t idx[kMaxRank] = {};
  int64_t off[kMaxOps] = {};

  RowWalker(const NdLayout& layout, int64_t row) : nd(layout) {
    for (int d = nd.rank - 2; d >= 0; d--) {
      idx[d] = row % nd.shape[d];
      row /= nd.shape[d];
      for (int k = 0; k < nd.nops; k++) off[k] += idx[d] * nd.stride[k][d];
    }
  }

  void next() {
    for (int d = nd.rank - 2; d >= 0; d--) {
      for (int k = 0; k < nd.nops; k++) off[k] += nd.stride[k][d];
      if (++idx[d] < nd.shape[d]) return;
      for (int k = 0; k < nd.nops; k++) off[k] -= nd.stride[k][d] * nd.shape[d];
      idx[d] = 0;
    }
  }
};

// How many threads' worth of chunks `total` elements merit with at least `grain` elements each.
inline int64_t plan_chunks(int64_t total, int64_t grain) {
  int64_t c = total / (grain > 0 ? grain : 1);
  int64_t t = num_threads();
  return c < 1 ? 1 : c > t ? t : c;
}

// Cuts every row into blocks of at most `block` elements and runs the blocks in `chunks` contiguous chunks on the
// pool, calling fn(chunk, off, flat, j0, cnt) per block: off = the operands' offsets at the row start, flat = the
// contiguous index of the block's first element, j0 = its position in the row, cnt = its length.
template <class F>
void for_each_block(const NdLayout& nd, int64_t block, int64_t chunks, const F& fn) {
  const int64_t n = nd.inner(), per_row = (n + block - 1) / block, tasks = nd.rows() * per_row;
  auto run = [&](int64_t c) {
    const int64_t t0 = tasks * c / chunks, t1 = tasks * (c + 1) / chunks;
    if (t0 >= t1) return;
    int64_t row = t0 / per_row;
    RowWalker w(nd, row);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t r = t / per_row, j0 = (t % per_row) * block;
      for (; row < r; row++) w.next();
      fn(c, w.off, r * n + j0, j0, n - j0 < block ? n - j0 : block);
    }
  };
  if (chunks <= 1) run(0);
  else parallel_for(chunks, run);
}

}  // namespace whet
