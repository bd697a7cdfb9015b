#include "engine.h"

#include <algorithm>

namespace pinclip {

Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

Engine::Engine(const EngineConfig& config)
    : config_(config),
      tables_(make_tables(config.mean, config.std_dev)),
      kernels_(select_kernels(config.allow_simd)),
      pool_(std::max(1, config.num_threads)) {}

namespace {

// A single large frame is split into row bands so that all threads help; small images are not
// worth the duplicated horizontal work at band edges.
constexpr int64_t kSplitPixels = 512 * 512;

}  // namespace

void Engine::run(const std::vector<Item>& items, void* out, bool half) {
  const int n = static_cast<int>(items.size());
  if (n == 0) return;
  const GeometrySpec& g = config_.geometry;
  std::vector<Plan> plans;
  plans.reserve(items.size());
  for (const Item& item : items) {
    plans.push_back(compute_plan(item.view.width, item.view.height, g));
    plans.back().fast = !config_.exact;
  }
  const std::size_t image_elems = static_cast<std::size_t>(3) * g.out_h * g.out_w;
  const std::size_t elem_size = half ? 2 : 4;

  std::unique_lock<std::mutex> lock(pool_mutex_, std::try_to_lock);
  const int threads = lock.owns_lock() ? pool_.size() : 1;
  int bands = 1;
  if (n < threads) {
    int64_t largest = 0;
    for (const Item& item : items) largest = std::max(largest, item.view.width * item.view.height);
    // Several bands per thread, taken dynamically: if a worker is slow to wake (a busy machine),
    // the caller goes on with the next band instead of waiting for a large one.
    if (largest >= kSplitPixels) bands = std::min(3 * ((threads + n - 1) / n), std::max(1, g.out_h / 16));
  }
  auto task = [&](int t, int /*slot*/) {
    const int i = t / bands;
    const int band = t % bands;
    const int row_begin = static_cast<int>(static_cast<int64_t>(g.out_h) * band / bands);
    const int row_end = static_cast<int>(static_cast<int64_t>(g.out_h) * (band + 1) / bands);
    OutputPlanes planes;
    planes.data = static_cast<char*>(out) + static_cast<std::size_t>(i) * image_elems * elem_size;
    planes.half = half;
    preprocess_rows(items[i].view, plans[i], tables_, items[i].fill_rgb, kernels_, planes, row_begin, row_end,
                    thread_scratch());
  };
  if (threads == 1) {
    for (int t = 0; t < n * bands; ++t) task(t, 0);
  } else {
    pool_.parallel_for(n * bands, task);
  }
}

}  // namespace pinclip
