// N-API binding of loraGroups (many LoRA adapters in one batch): argument checks, then the down projections of every
// group into a small scratch and the up projections into y, each phase split across the pool when the call is large.
#include <napi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels.h"
#include "kernels_args.h"
#include "threadpool.h"

namespace whet {
namespace {

// Below both, a phase runs on the calling thread (the GEMM's measure for its memory-bound small-m paths): ~50 µs of
// arithmetic, or adapter weights that take ~10 µs to come from memory.
constexpr double kParallelFlops = 6e6;
constexpr int64_t kParallelBytes = 128 << 10;
constexpr int64_t kTPad = 16;     // t rows padded with zeros to whole 64-byte lines (every ISA's vector width divides it)
constexpr int64_t kOutUnit = 16;  // outputs per unit of the up projection's split: a 64-byte line of y per thread

struct Group {
  const float* a;  // (r, in_f)
  const float* b;  // (out_f, r)
  int64_t r;
  float scale;
  const int32_t* rows;  // its n rows
  int64_t n;
  float* t;     // (n, ldt): scale · A·x of each row, zero past r
  int64_t ldt;
  int64_t base;  // Σ n·r of the groups before it: where its down projection starts in the split of that work
};

// Grow-only, 64-byte-aligned floats.
struct Scratch {
  float* data = nullptr;
  int64_t cap = 0;
  ~Scratch() { std::free(data); }
  float* get(int64_t n) {  // nullptr when out of memory
    if (n > (int64_t(1) << 40)) return nullptr;
    if (n > cap) {
      std::free(data);
      cap = (n + 15) & ~int64_t(15);
      data = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(cap) * sizeof(float)));
      if (data == nullptr) cap = 0;
    }
    return data;
  }
};

// Reused across calls, so a call allocates only when it needs more than any call before it on this thread.
thread_local std::vector<Group> tl_groups;
thread_local Scratch tl_scratch;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// loraGroups(x, y, inF, outF, rows, offsets, a, b, ranks, scales): a and b are JS arrays of Float32Arrays, one
// A (ranks[g] × inF) and one B (outF × ranks[g]) per group. For g < a.length: y[row] += scales[g]·B·(A·x[row]) for
// every row in rows[offsets[g] .. offsets[g+1]). x and y must not overlap.
Napi::Value LoraGroups(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "loraGroups");
  Arr<float> x = a.f32(0, "x"), y = a.f32(1, "y");
  const int64_t in_f = a.integer(2, "inF"), out_f = a.integer(3, "outF");
  Arr<int32_t> rows = a.i32(4, "rows"), offsets = a.i32(5, "offsets");
  const uint32_t na = a.array_length(6, "a"), nb = a.array_length(7, "b");
  Arr<int32_t> ranks = a.i32(8, "ranks");
  Arr<float> scales = a.f32(9, "scales");
  if (a.ok() && na != nb) a.fail("a has " + std::to_string(na) + " matrices but b has " + std::to_string(nb));
  const int64_t groups = na;
  a.need(offsets, groups + 1, "offsets");
  a.need(ranks, groups, "ranks");
  a.need(scales, groups, "scales");
  if (!a.ok()) return env.Undefined();

  // Every listed row must be a whole row of both x and y.
  const int64_t x_rows = in_f > 0 ? x.len / in_f : INT64_MAX, y_rows = out_f > 0 ? y.len / out_f : INT64_MAX;
  const int64_t max_rows = x_rows < y_rows ? x_rows : y_rows;
  std::vector<Group>& gs = tl_groups;
  gs.clear();
  int64_t t_size = 0, work = 0, ranks_sum = 0;
  for (int64_t g = 0; g < groups && a.ok(); g++) {
    const int64_t r = ranks.p[g], first = offsets.p[g], end = offsets.p[g + 1];
    if (r < 0) a.fail("ranks[" + std::to_string(g) + "] is " + std::to_string(r));
    else if (first < 0 || end < first || end > rows.len)
      a.fail("offsets[" + std::to_string(g) + ".." + std::to_string(g + 1) + "] = " + std::to_string(first) + ".." +
             std::to_string(end) + " is not a range of the " + std::to_string(rows.len) + " rows");
    Arr<float> ag = a.f32_element(6, static_cast<uint32_t>(g), "a"), bg = a.f32_element(7, static_cast<uint32_t>(g), "b");
    if (a.ok() && sat_mul(r, in_f) > ag.len)
      a.fail("a[" + std::to_string(g) + "] has " + std::to_string(ag.len) + " elements but " + std::to_string(r) + " × " +
             std::to_string(in_f) + " are needed");
    if (a.ok() && sat_mul(out_f, r) > bg.len)
      a.fail("b[" + std::to_string(g) + "] has " + std::to_string(bg.len) + " elements but " + std::to_string(out_f) +
             " × " + std::to_string(r) + " are needed");
    for (int64_t i = first; i < end && a.ok(); i++)
      if (rows.p[i] < 0 || rows.p[i] >= max_rows)
        a.fail("row " + std::to_string(rows.p[i]) + " at " + std::to_string(i) + " is outside [0, " +
               std::to_string(max_rows) + ")");
    if (!a.ok() || r == 0 || end == first) continue;
    const int64_t n = end - first, ldt = ceil_div(r, kTPad) * kTPad;
    gs.push_back({ag.p, bg.p, r, scales.p[g], rows.p + first, n, nullptr, ldt, work});
    t_size = sat_add(t_size, sat_mul(n, ldt));
    work = sat_add(work, sat_mul(n, r));
    ranks_sum = sat_add(ranks_sum, r);
  }
  if (!a.ok() || gs.empty() || out_f == 0) return env.Undefined();
  const KernelTable& K = kernels();
  // Each phase on its own merits: its weights (Σ r × in_f of A, Σ r × out_f of B) and its arithmetic.
  const int64_t threads = num_threads();
  auto plan = [&](int64_t width) -> int64_t {
    const double flops = 2.0 * static_cast<double>(work) * static_cast<double>(width);
    const bool big = flops >= kParallelFlops || sat_mul(ranks_sum, width) >= kParallelBytes / int64_t(sizeof(float));
    return threads > 1 && big ? threads : 1;
  };
  const int64_t down_tasks = plan(in_f), up_tasks = plan(out_f);

  // Every group's t, zero past each rank.
  float* t = tl_scratch.get(t_size);
  if (t == nullptr) {
    a.fail("no memory for " + std::to_string(t_size) + " floats of scratch");
    return env.Undefined();
  }
  std::memset(t, 0, static_cast<size_t>(t_size) * sizeof(float));
  for (Group& g : gs) {
    g.t = t;
    t += g.n * g.ldt;
  }

  // Down projections: the (group, k) pairs, each worth n rows, cut into `down_tasks` equal shares of the work.
  auto down = [&](int64_t c) {
    const __int128 lo = static_cast<__int128>(work) * c / down_tasks;
    const __int128 hi = static_cast<__int128>(work) * (c + 1) / down_tasks;
    for (const Group& g : gs) {
      // Pair k belongs to the share holding g.base + k·n.
      auto first_k = [&](__int128 w) -> int64_t {
        if (w <= g.base) return 0;
        const __int128 k = (w - g.base + g.n - 1) / g.n;
        return k < g.r ? static_cast<int64_t>(k) : g.r;
      };
      const int64_t k0 = first_k(lo), k1 = first_k(hi);
      if (k0 < k1) K.lora_down(x.p, g.rows, g.n, in_f, g.a, k0, k1, g.scale, g.t, g.ldt);
    }
  };
  // Up projections: every group for a share of the outputs, cut on 64-byte lines of y.
  const int64_t units = ceil_div(out_f, kOutUnit);
  auto up = [&](int64_t c) {
    const int64_t o0 = units * c / up_tasks * kOutUnit;
    const int64_t o1 = std::min<int64_t>(out_f, units * (c + 1) / up_tasks * kOutUnit);
    if (o0 >= o1) return;
    for (const Group& g : gs) K.lora_up(g.t, g.ldt, g.rows, g.n, g.b, g.r, o0, o1, y.p, out_f);
  };
  if (down_tasks == 1) down(0);
  else parallel_for(down_tasks, down);
  if (up_tasks == 1) up(0);
  else parallel_for(up_tasks, up);
  return env.Undefined();
}

}  // namespace

void RegisterLoraKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("loraGroups", Napi::Function::New(env, LoraGroups, "loraGroups"));
}

}  // namespace whet
