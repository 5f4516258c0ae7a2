// Attention driver: cuts the work into (batch, kv head, row tile, key range) jobs for the active ISA's
// kernels, runs them on the thread pool, and merges the pieces of split jobs in a fixed order.
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "isa.h"
#include "threadpool.h"

namespace whet {
namespace {

using attn::cdiv;
using attn::kKeyTile;
using attn::kPad;
using attn::kRowTile;
using attn::round_up;

// Below this many flops (tens of microseconds) a call stays on the calling thread.
constexpr double kInlineFlops = 3e6;
// Splitting the backward over key ranges costs one dQ partial per piece: cap their total.
constexpr double kMaxPartialBytes = 256.0 * 1024 * 1024;

int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

const attn::Kernels& kernels() {
  switch (active_isa()) {
    case Isa::avx512: return avx512::attention_kernels;
    case Isa::avx2: return avx2::attention_kernels;
    default: return scalar::attention_kernels;
  }
}

// Grow-only 64-byte-aligned scratch of the calling thread: fresh buffers this size would page-fault
// on every call (decoding calls attention once per layer per token).
float* scratch(int64_t floats) {
  struct Buf {
    float* p = nullptr;
    int64_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf buf;
  if (floats > buf.n) {
    std::free(buf.p);
    buf.n = 0;
    buf.p = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(round_up(floats, 16)) * sizeof(float)));
    if (buf.p == nullptr) return nullptr;
    buf.n = floats;
  }
  return buf.p;
}

// (query, key) pairs one head computes.
double visible_pairs(const AttnArgs& a) {
  if (!a.causal) return static_cast<double>(a.Tq) * a.Tk;
  const double off = static_cast<double>(a.Tk - a.Tq);
  return a.Tq * off + a.Tq * (a.Tq + 1.0) / 2;
}

int64_t thread_budget(double flops) { return flops < kInlineFlops ? 1 : num_threads(); }

// Runs job(i, ws) for i < n, pulled dynamically by `tasks` workers that each own ws_floats of scratch.
template <typename F>
void run_jobs(int64_t n, int64_t tasks, float* ws, int64_t ws_floats, const F& job) {
  if (tasks <= 1) {
    for (int64_t i = 0; i < n; i++) job(i, ws);
    return;
  }
  std::atomic<int64_t> next{0};
  parallel_for(tasks, [&](int64_t t) {
    float* w = ws + t * ws_floats;
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) job(i, w);
  });
}

}  // namespace

bool attention_forward(const AttnArgs& a) {
  if (a.B == 0 || a.Tq == 0) return true;
  const attn::Kernels& kern = kernels();
  const int64_t G = a.Hq / a.Hkv, R = a.Tq * G, nrt = cdiv(R, kRowTile), nkt = cdiv(a.Tk, kKeyTile);
  // Decoding (few rows per kv head): one job walks every kv head, reading K and V front to back.
  const int64_t heads_per_job = R <= attn::kNarrowRows ? a.Hkv : 1, groups = a.B * (a.Hkv / heads_per_job);
  const int64_t threads = a.serial ? 1 : thread_budget(4.0 * a.B * a.Hq * visible_pairs(a) * a.D);
  // Too few (batch, head, row tile) jobs to fill the pool: split the keys as well and merge.
  int64_t splits = 1;
  if (threads > 1 && groups * nrt < 2 * threads) splits = min64(nkt, cdiv(2 * threads, groups * nrt));
  const int64_t njobs = groups * nrt * splits, tasks = min64(threads, njobs);
  const int64_t wsn = round_up(kern.fwd_workspace(a), 16);
  const int64_t part = splits > 1 ? heads_per_job * attn::part_floats(a.D) : 0;
  float* buf = scratch(tasks * wsn + njobs * part);
  if (buf == nullptr) return false;
  float* parts = buf + tasks * wsn;

  // Job idx: row tile (the last first: under a causal mask they see the most keys), then head group,
  // then key range.
  auto job_of = [&](int64_t idx) {
    const int64_t rt = nrt - 1 - idx / (groups * splits), rem = idx % (groups * splits);
    const int64_t group = rem / splits, s = rem % splits, per_b = a.Hkv / heads_per_job;
    attn::FwdJob job{};
    job.b = group / per_b;
    job.kvh0 = group % per_b * heads_per_job;
    job.kvh1 = job.kvh0 + heads_per_job;
    job.r0 = rt * kRowTile;
    job.r1 = min64(R, job.r0 + kRowTile);
    job.kt0 = s * nkt / splits;
    job.kt1 = (s + 1) * nkt / splits;
    job.part = splits > 1 ? parts + idx * part : nullptr;
    return job;
  };
  run_jobs(njobs, tasks, buf, wsn, [&](int64_t idx, float* ws) { kern.fwd(a, job_of(idx), ws); });
  if (splits == 1) return true;

  // Merge the key ranges of each row: rescale each piece to the common max, then normalise.
  const int64_t Dp = round_up(a.D, kPad), pf = attn::part_floats(a.D);
  std::vector<double> acc(a.D);
  for (int64_t idx = 0; idx < njobs; idx += splits) {
    const attn::FwdJob job = job_of(idx);
    for (int64_t hh = 0; hh < heads_per_job; hh++) {
      for (int64_t i = 0; i < job.r1 - job.r0; i++) {
        auto piece = [&](int64_t s) { return parts + (idx + s) * part + hh * pf; };
        float mx = -INFINITY;
        for (int64_t s = 0; s < splits; s++) mx = std::fmax(mx, piece(s)[kRowTile * Dp + i]);
        double l = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t s = 0; s < splits; s++) {
          const float* p = piece(s);
          const double w = std::exp2(static_cast<double>(p[kRowTile * Dp + i]) - mx);
          if (w == 0) continue;
          l += w * p[kRowTile * Dp + kRowTile + i];
          for (int64_t d = 0; d < a.D; d++) acc[d] += w * p[i * Dp + d];
        }
        const int64_t r = job.r0 + i, q = r / G, h = (job.kvh0 + hh) * G + r % G;
        float* dst = a.o + ((job.b * a.Tq + q) * a.Hq + h) * a.D;
        for (int64_t d = 0; d < a.D; d++) dst[d] = static_cast<float>(acc[d] / l);
        a.lse[(job.b * a.Hq + h) * a.Tq + q] = static_cast<float>((mx + std::log2(l)) * 0.6931471805599453);
      }
    }
  }
  return true;
}

bool attention_backward(const AttnArgs& a) {
  if (a.B == 0) return true;
  const attn::Kernels& kern = kernels();
  const int64_t G = a.Hq / a.Hkv, R = a.Tq * G, nkt = cdiv(a.Tk, kKeyTile);
  const int64_t Dp = round_up(a.D, kPad), bh = a.B * a.Hkv, off = a.Tk - a.Tq;
  const int64_t threads = thread_budget(10.0 * a.B * a.Hq * visible_pairs(a) * a.D);
  // Each job owns all query heads of one kv head, so its gk/gv rows are private. With too few
  // (batch, kv head) pairs for the pool, split the keys too; each piece then keeps its own dQ partial.
  int64_t splits = 1;
  if (threads > 1 && bh < 2 * threads) splits = min64(nkt, cdiv(2 * threads, bh));
  const int64_t dqn = round_up(R * Dp, 16);
  while (splits > 1 && 4.0 * bh * splits * dqn > kMaxPartialBytes) splits--;
  const int64_t njobs = bh * splits, tasks = min64(threads, njobs);
  const int64_t wsn = round_up(kern.bwd_workspace(a), 16) + (splits == 1 ? dqn : 0);
  const int64_t din = round_up(a.B * a.Hq * a.Tq, 16);
  float* buf = scratch(din + tasks * wsn + (splits > 1 ? njobs * dqn : 0));
  if (buf == nullptr) return false;
  float* di = buf;
  float* ws = buf + din;
  float* parts = ws + tasks * wsn;

  // D_i = rowsum(go ∘ o), in the (B, Hq, Tq) layout of lse.
  parallel_range(a.B * a.Tq * a.Hq, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; row++) {
      const float* g = a.go + row * a.D;
      const float* o = a.o + row * a.D;
      float s = 0;
      for (int64_t d = 0; d < a.D; d++) s += g[d] * o[d];
      const int64_t h = row % a.Hq, q = (row / a.Hq) % a.Tq, b = row / (a.Hq * a.Tq);
      di[(b * a.Hq + h) * a.Tq + q] = s;
    }
  });

  // Key-range boundaries of equal work: with a causal mask, early keys are seen by more queries.
  std::vector<int64_t> bounds(splits + 1, nkt);
  bounds[0] = 0;
  if (splits > 1) {
    std::vector<double> prefix(nkt + 1, 0.0);
    for (int64_t kt = 0; kt < nkt; kt++) {
      const int64_t k0 = kt * kKeyTile, n = min64(kKeyTile, a.Tk - k0);
      const int64_t first = a.causal ? std::max<int64_t>(0, std::min<int64_t>(a.Tq, k0 - off)) : 0;
      prefix[kt + 1] = prefix[kt] + static_cast<double>(a.Tq - first) * n;
    }
    for (int64_t s = 1, kt = 0; s < splits; s++) {
      while (kt < nkt && prefix[kt] < prefix[nkt] * s / splits) kt++;
      bounds[s] = kt;
    }
  }

  run_jobs(njobs, tasks, ws, wsn, [&](int64_t idx, float* w) {
    const int64_t pair = idx / splits, s = idx % splits;
    attn::BwdJob job{};
    job.b = pair / a.Hkv;
    job.kvh = pair % a.Hkv;
    job.kt0 = bounds[s];
    job.kt1 = bounds[s + 1];
    job.dq = splits > 1 ? parts + idx * dqn : w + (wsn - dqn);
    job.di = di;
    std::memset(job.dq, 0, sizeof(float) * R * Dp);
    kern.bwd(a, job, w);
    if (splits > 1) return;
    for (int64_t r = 0; r < R; r++) {
      float* dst = a.gq + ((job.b * a.Tq + r / G) * a.Hq + job.kvh * G + r % G) * a.D;
      for (int64_t d = 0; d < a.D; d++) dst[d] = job.dq[r * Dp + d] * a.scale;
    }
  });
  if (splits == 1) return true;

  parallel_range(bh * R, 256, [&](int64_t begin, int64_t end) {
    for (int64_t pr = begin; pr < end; pr++) {
      const int64_t pair = pr / R, r = pr % R, b = pair / a.Hkv, kvh = pair % a.Hkv;
      float* dst = a.gq + ((b * a.Tq + r / G) * a.Hq + kvh * G + r % G) * a.D;
      for (int64_t d = 0; d < a.D; d++) {
        float s = 0;
        for (int64_t p = 0; p < splits; p++) s += parts[(pair * splits + p) * dqn + r * Dp + d];
        dst[d] = s * a.scale;
      }
    }
  });
  return true;
}

bool attention_cached(const CachedAttnArgs& c) {
  const int64_t row = c.Tq * c.Hkv * c.D;  // floats of one sequence's new keys (or values)
  auto one = [&](int64_t b, bool serial) {
    std::memcpy(c.k[b] + c.len[b] * c.Hkv * c.D, c.new_k + b * row, row * sizeof(float));
    std::memcpy(c.v[b] + c.len[b] * c.Hkv * c.D, c.new_v + b * row, row * sizeof(float));
    thread_local std::vector<float> lse;  // written by the forward, unused here
    lse.resize(c.Hq * c.Tq);
    AttnArgs a{};
    a.q = c.q + b * c.Tq * c.Hq * c.D;
    a.k = c.k[b];
    a.v = c.v[b];
    a.o = c.o + b * c.Tq * c.Hq * c.D;
    a.lse = lse.data();
    a.B = 1;
    a.Tq = c.Tq;
    a.Tk = c.len[b] + c.Tq;
    a.kvCap = c.cap[b];
    a.Hq = c.Hq;
    a.Hkv = c.Hkv;
    a.D = c.D;
    a.scale = c.scale;
    a.causal = true;
    a.serial = serial;
    return attention_forward(a);
  };
  if (c.B == 1) return one(0, false);
  std::atomic<bool> ok{true};
  parallel_for(c.B, [&](int64_t b) {
    if (!one(b, true)) ok = false;
  });
  return ok;
}

}  // namespace whet
