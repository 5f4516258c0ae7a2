// Thread pool: workers spin briefly after each job (kernels come in quick bursts) and then sleep.
#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace whet {
namespace {

thread_local bool tl_in_task = false;

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop_workers(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    if (n < 1) n = 1;
    stop_workers();
    nthreads_ = n;
    stop_ = false;
    for (int i = 1; i < n; i++) workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t ntasks, const std::function<void(int64_t)>& fn) {
    if (ntasks <= 0) return;
    if (nthreads_ == 1 || ntasks == 1 || tl_in_task) {
      for (int64_t i = 0; i < ntasks; i++) fn(i);
      return;
    }
    std::lock_guard<std::mutex> run_lock(run_mutex_);  // one job at a time
    {
      std::lock_guard<std::mutex> lk(mutex_);
      fn_ = &fn;
      ntasks_ = ntasks;
      next_.store(0, std::memory_order_relaxed);
      pending_.store(ntasks, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work(fn, ntasks);
    // The other threads' tasks are usually microseconds from done: spin for them, yielding only after
    // kSpinWait. A yield per check (a system call, and the core handed to any other runnable process)
    // made a product of ~3 µs on two threads take 1.5 µs longer (decode of a 135M model makes 60 such calls).
    wait_for_zero(pending_);
    // No worker may join this job from here on, and the next job must not reset next_ while one that joined is
    // still claiming indices from it: a late worker once took the next job's indices with this job's task count,
    // drove pending_ below zero and left the caller spinning for ever.
    {
      std::lock_guard<std::mutex> lk(mutex_);
      fn_ = nullptr;
    }
    wait_for_zero(active_);
  }

 private:
  /** Claims and runs tasks of the current job until none is left. */
  void work(const std::function<void(int64_t)>& fn, int64_t ntasks) {
    tl_in_task = true;
    for (;;) {
      int64_t i = next_.fetch_add(1, std::memory_order_acq_rel);
      if (i >= ntasks) break;
      fn(i);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
    tl_in_task = false;
  }

  static void wait_for_zero(const std::atomic<int64_t>& count) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpinWait;
    for (uint32_t i = 1; count.load(std::memory_order_acquire) != 0; i++) {
      cpu_relax();
      if (i % 64 == 0 && std::chrono::steady_clock::now() > spin_until) {
        while (count.load(std::memory_order_acquire) != 0) std::this_thread::yield();
        return;
      }
    }
  }

  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  static constexpr std::chrono::microseconds kSpinWait{50};

  void worker_loop() {
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      // Spin for a short while: the next kernel usually follows within microseconds.
      auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (generation_.load(std::memory_order_acquire) == seen && !stop_.load() &&
             std::chrono::steady_clock::now() < spin_until) {
      }
      if (generation_.load(std::memory_order_acquire) == seen && !stop_.load()) {
        std::unique_lock<std::mutex> lk(mutex_);
        cv_.wait(lk, [&] { return generation_.load() != seen || stop_.load(); });
      }
      if (stop_.load()) return;
      // The job's function and size are taken together under the lock, and only while the caller still admits
      // workers (fn_ set); active_ tells it when this worker has left the job.
      const std::function<void(int64_t)>* fn = nullptr;
      int64_t ntasks = 0;
      {
        std::lock_guard<std::mutex> lk(mutex_);
        seen = generation_.load(std::memory_order_relaxed);
        if (fn_ != nullptr) {
          fn = fn_;
          ntasks = ntasks_;
          active_.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (fn == nullptr) continue;
      work(*fn, ntasks);
      active_.fetch_sub(1, std::memory_order_release);
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int nthreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_, mutex_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0}, pending_{0}, active_{0};
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t ntasks_ = 0;
};

int default_threads() {
  const char* env = std::getenv("WHET_THREADS");
  if (env != nullptr && std::atoi(env) > 0) return std::atoi(env);
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n); }

void parallel_for(int64_t ntasks, const std::function<void(int64_t)>& fn) { pool().run(ntasks, fn); }

void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>(num_threads(), std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
  if (chunks <= 1 || tl_in_task) {
    fn(0, n);
    return;
  }
  parallel_for(chunks, [&](int64_t c) {
    int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) fn(b, e);
  });
}

}  // namespace whet
