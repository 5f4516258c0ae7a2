// Persistent thread pool shared by every kernel: size from WHET_THREADS (default: all cores).
#pragma once
#include <cstdint>
#include <functional>

namespace whet {

int num_threads();
void set_num_threads(int n);

// Runs fn(i) for every i in [0, ntasks) on the pool; the calling thread takes part and the call
// returns when all tasks are done. Nested calls (from inside a task) run serially.
void parallel_for(int64_t ntasks, const std::function<void(int64_t)>& fn);

// Splits [0, n) into at most num_threads() contiguous chunks of at least `grain` items and runs
// fn(begin, end) on each; with a single chunk it runs inline with no synchronisation.
void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace whet
