// N-API bindings of the strided ops (copyStrided, binary, reduceSum): layout checks, coalescing, threaded rows.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "kernels_args.h"
#include "kernels_nd.h"

namespace whet {
namespace {

constexpr int64_t kBlock = 16384;  // elements per task within a long row
constexpr int64_t kGrain = 65536;  // elements per thread at least: ~50 us of memory-bound work runs inline

// Reads the shape and `nops` stride groups, each `rank` numbers, packed in a Float64Array.
NdLayout read_layout(Args& a, size_t idims, size_t irank, int nops) {
  NdLayout nd;
  nd.nops = nops;
  Arr<double> dims = a.f64(idims, "dims");
  int64_t rank = a.integer(irank, "rank");
  if (a.ok() && rank > kMaxRank) a.fail("rank " + std::to_string(rank) + " is above " + std::to_string(kMaxRank));
  a.need(dims, rank * (nops + 1), "dims");
  if (!a.ok()) return nd;
  nd.rank = static_cast<int>(rank);
  // Range first: casting a NaN or huge double to an integer is undefined.
  auto is_int = [](double v, double lo) { return v >= lo && v <= 9007199254740992.0 && v == std::floor(v); };
  for (int d = 0; d < nd.rank; d++) {
    if (!is_int(dims.p[d], 0)) a.fail("shape must hold non-negative integers");
    for (int k = 0; k < nops; k++)
      if (!is_int(dims.p[(k + 1) * rank + d], -9007199254740992.0)) a.fail("strides must be integers");
    if (!a.ok()) return nd;
    nd.shape[d] = static_cast<int64_t>(dims.p[d]);
    for (int k = 0; k < nops; k++) nd.stride[k][d] = static_cast<int64_t>(dims.p[(k + 1) * rank + d]);
  }
  return nd;
}

// Transposing copies: when the source's unit-stride dim p is not the innermost, a row walk would read one element
// per cache line. This copies kTile x kTile tiles of the (p, innermost) plane instead; false when it does not apply.
bool copy_tiled(const NdLayout& c, const float* src, float* dst, int64_t total) {
  constexpr int64_t kTile = 16;  // 16 rows of a power-of-two stride still fit the L1 ways; 32 thrash them
  const int last = c.rank - 1;
  int p = -1;
  for (int d = 0; d < last; d++)
    if (c.stride[0][d] == 1) p = d;
  if (p < 0 || c.shape[p] < 8 || c.shape[last] < 8) return false;
  int64_t dstride[kMaxRank];  // dst is contiguous
  dstride[last] = 1;
  for (int d = last - 1; d >= 0; d--) dstride[d] = dstride[d + 1] * c.shape[d + 1];
  NdLayout outer;  // every other dim, walked by RowWalker (which skips the last, a size-1 placeholder here)
  outer.nops = 2;
  for (int d = 0; d < last; d++) {
    if (d == p) continue;
    outer.shape[outer.rank] = c.shape[d];
    outer.stride[0][outer.rank] = c.stride[0][d];
    outer.stride[1][outer.rank] = dstride[d];
    outer.rank++;
  }
  outer.shape[outer.rank++] = 1;
  const int64_t rows = c.shape[p], cols = c.shape[last], s_col = c.stride[0][last], d_row = dstride[p];
  const int64_t tiles = (rows + kTile - 1) / kTile, tasks = outer.rows() * tiles, chunks = plan_chunks(total, kGrain);
  auto run = [&](int64_t chunk) {
    for (int64_t t = tasks * chunk / chunks; t < tasks * (chunk + 1) / chunks; t++) {
      RowWalker w(outer, t / tiles);
      const float* s = src + w.off[0];
      float* d = dst + w.off[1];
      const int64_t i0 = t % tiles * kTile, i1 = i0 + kTile < rows ? i0 + kTile : rows;
      for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const int64_t j1 = j0 + kTile < cols ? j0 + kTile : cols;
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = j0; j < j1; j++) d[i * d_row + j] = s[i + j * s_col];
      }
    }
  };
  if (chunks <= 1) run(0);
  else parallel_for(chunks, run);
  return true;
}

// copyStrided(src, srcOffset, dst, dstOffset, dims = [shape, srcStrides], rank)
Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  Args a(info, "copyStrided");
  Arr<float> src = a.f32(0, "src");
  int64_t src_off = a.integer(1, "srcOffset");
  Arr<float> dst = a.f32(2, "dst");
  int64_t dst_off = a.integer(3, "dstOffset");
  NdLayout nd = read_layout(a, 4, 5, 1);
  const int64_t total = nd.size();
  a.need(dst, sat_add(dst_off, total), "dst");
  if (a.ok() && total > 0 && !span_ok(nd, 0, src_off, src.len)) a.fail("src strides reach outside src");
  if (!a.ok() || total == 0) return info.Env().Undefined();
  const NdLayout c = coalesce(nd);
  if (copy_tiled(c, src.p + src_off, dst.p + dst_off, total)) return info.Env().Undefined();
  const int64_t s = c.stride[0][c.rank - 1];
  for_each_block(c, kBlock, plan_chunks(total, kGrain), [&](int64_t, const int64_t* off, int64_t flat, int64_t j0, int64_t cnt) {
    const float* sp = src.p + src_off + off[0] + j0 * s;
    float* dp = dst.p + dst_off + flat;
    if (s == 1) std::memcpy(dp, sp, static_cast<size_t>(cnt) * sizeof(float));
    else
      for (int64_t i = 0; i < cnt; i++) dp[i] = sp[i * s];
  });
  return info.Env().Undefined();
}

// binary(op, a, aOffset, b, bOffset, out, dims = [outShape, aStrides, bStrides], rank)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args a(info, "binary");
  int64_t op = a.integer(0, "op");
  if (a.ok() && op > kDiv) a.fail("unknown op code " + std::to_string(op));
  Arr<float> x = a.f32(1, "a");
  int64_t x_off = a.integer(2, "aOffset");
  Arr<float> y = a.f32(3, "b");
  int64_t y_off = a.integer(4, "bOffset");
  Arr<float> out = a.f32(5, "out");
  NdLayout nd = read_layout(a, 6, 7, 2);
  const int64_t total = nd.size();
  a.need(out, total, "out");
  if (a.ok() && total > 0 && !span_ok(nd, 0, x_off, x.len)) a.fail("a strides reach outside a");
  if (a.ok() && total > 0 && !span_ok(nd, 1, y_off, y.len)) a.fail("b strides reach outside b");
  if (!a.ok() || total == 0) return info.Env().Undefined();
  const KernelTable& K = kernels();
  const NdLayout c = coalesce(nd);
  const int64_t sa = c.stride[0][c.rank - 1], sb = c.stride[1][c.rank - 1];
  const int opc = static_cast<int>(op);
  for_each_block(c, kBlock, plan_chunks(total, kGrain), [&](int64_t, const int64_t* off, int64_t flat, int64_t j0, int64_t cnt) {
    K.binary(opc, x.p + x_off + off[0] + j0 * sa, sa, y.p + y_off + off[1] + j0 * sb, sb, out.p + flat, cnt);
  });
  return info.Env().Undefined();
}

// True when distinct indices over the kept (non-zero-stride) dims reach distinct outputs and no outer dim is
// summed, so rows may be written by different threads without a race.
bool writes_disjoint(const NdLayout& c) {
  int64_t st[kMaxRank], sh[kMaxRank];
  int n = 0;
  for (int d = 0; d < c.rank; d++) {
    int64_t s = c.stride[0][d] < 0 ? -c.stride[0][d] : c.stride[0][d];
    if (s == 0) {
      if (d + 1 < c.rank) return false;
      continue;
    }
    int k = n++;
    for (; k > 0 && st[k - 1] > s; k--) {  // insertion sort by stride
      st[k] = st[k - 1];
      sh[k] = sh[k - 1];
    }
    st[k] = s;
    sh[k] = c.shape[d];
  }
  for (int k = 1; k < n; k++)
    if (st[k] < sat_mul(st[k - 1], sh[k - 1])) return false;
  return true;
}

// reduceSum(x, out, outSize, dims = [shape, outStrides], rank)
Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  Args a(info, "reduceSum");
  Arr<float> x = a.f32(0, "x");
  Arr<float> out = a.f32(1, "out");
  int64_t out_size = a.integer(2, "outSize");
  NdLayout nd = read_layout(a, 3, 4, 1);
  const int64_t total = nd.size();
  a.need(out, out_size, "out");
  a.need(x, total, "x");
  if (a.ok() && total > 0 && !span_ok(nd, 0, 0, out_size)) a.fail("outStrides reach outside [0, outSize)");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  K.fill(out.p, out_size, 0.0f);
  if (total == 0) return info.Env().Undefined();

  const NdLayout c = coalesce(nd);
  const int64_t so = c.stride[0][c.rank - 1];
  auto add_block = [&](float* dst, const int64_t* off, int64_t flat, int64_t j0, int64_t cnt) {
    if (so == 0) dst[off[0]] += K.sum(x.p + flat, cnt);
    else if (so == 1) K.accumulate(dst + off[0] + j0, x.p + flat, cnt);
    else
      for (int64_t i = 0; i < cnt; i++) dst[off[0] + (j0 + i) * so] += x.p[flat + i];
  };
  const int64_t chunks = plan_chunks(total, kGrain);
  const bool disjoint = writes_disjoint(c);
  if (chunks > 1 && disjoint && (so != 0 || c.rows() >= chunks)) {
    // Blocks of one row would race on its single output when the row is summed: keep rows whole then.
    for_each_block(c, so == 0 ? c.inner() : kBlock, chunks, [&](int64_t, const int64_t* off, int64_t flat, int64_t j0, int64_t cnt) {
      add_block(out.p, off, flat, j0, cnt);
    });
  } else if (chunks > 1 && sat_mul(out_size, chunks - 1) <= total) {
    // Each extra chunk sums into its own zeroed copy of out; the copies are added at the end.
    std::vector<float> partial(static_cast<size_t>(out_size * (chunks - 1)), 0.0f);
    for_each_block(c, kBlock, chunks, [&](int64_t chunk, const int64_t* off, int64_t flat, int64_t j0, int64_t cnt) {
      add_block(chunk == 0 ? out.p : partial.data() + (chunk - 1) * out_size, off, flat, j0, cnt);
    });
    for (int64_t k = 0; k + 1 < chunks; k++) K.accumulate(out.p, partial.data() + k * out_size, out_size);
  } else {
    for_each_block(c, kBlock, 1, [&](int64_t, const int64_t* off, int64_t flat, int64_t j0, int64_t cnt) {
      add_block(out.p, off, flat, j0, cnt);
    });
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterStridedKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum));
}

}  // namespace whet
