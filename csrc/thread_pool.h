// A small persistent thread pool: `parallel_for` splits task indices over the workers and the
// calling thread. No OpenMP (it would clash with torch's runtime when both are loaded).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pinclip {

class ThreadPool {
 public:
  // `num_threads` counts the caller: 1 means no worker threads at all.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, slot) for task in [0, n); `slot` in [0, size()) is unique among concurrently
  // running calls, so callers can index per-thread scratch buffers with it. Rethrows the first
  // exception after all tasks finished. Not re-entrant: one parallel_for at a time per pool.
  void parallel_for(int n, const std::function<void(int, int)>& fn);

 private:
  void worker_loop(int slot);
  void drain(int slot);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int, int)>* job_ = nullptr;
  int job_size_ = 0;
  std::atomic<int> next_{0};
  int active_ = 0;
  unsigned generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace pinclip
