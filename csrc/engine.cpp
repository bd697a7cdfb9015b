#include "engine.h"

#include <algorithm>
#include <stdexcept>

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

Plan Engine::plan(int64_t width, int64_t height, int t) const {
  const GeometrySpec& g = config_.geometry;
  const ViewSpec& v = config_.view;
  Plan plan;
  switch (v.view) {
    case View::Resize: plan = compute_plan(width, height, g); break;
    case View::Crop: plan = native_crop_plan(width, height, g.out_w, g.out_h, 1, 1, 0); break;
    case View::Tiles: plan = native_crop_plan(width, height, g.out_w, g.out_h, v.tile_rows, v.tile_cols, t); break;
    case View::Patches: throw std::logic_error("the patches view has no resample plan");
  }
  plan.fast = !config_.exact;
  return plan;
}

void Engine::run(const std::vector<Item>& items, void* out, bool half) {
  const int k = outputs_per_image();
  const int n = static_cast<int>(items.size()) * k;
  if (n == 0) return;
  const GeometrySpec& g = config_.geometry;
  const bool mosaic = config_.view.view == View::Patches;
  std::vector<Plan> plans;
  if (!mosaic) {
    plans.reserve(static_cast<std::size_t>(n));
    for (const Item& item : items)
      for (int t = 0; t < k; ++t) plans.push_back(plan(item.view.width, item.view.height, t));
  }
  const std::size_t image_elems = static_cast<std::size_t>(3) * g.out_h * g.out_w;
  const std::size_t elem_size = half ? 2 : 4;

  std::unique_lock<std::mutex> lock(pool_mutex_, std::try_to_lock);
  const int threads = lock.owns_lock() ? pool_.size() : 1;
  int bands = 1;
  if (n < threads && config_.view.view == View::Resize) {
    int64_t largest = 0;
    for (const Item& item : items) largest = std::max(largest, item.view.width * item.view.height);
    // Several bands per thread, taken dynamically: if a worker is slow to wake (a busy machine),
    // the caller goes on with the next band instead of waiting for a large one.
    if (largest >= kSplitPixels) bands = std::min(3 * ((threads + n - 1) / n), std::max(1, g.out_h / 16));
  }
  auto task = [&](int t, int /*slot*/) {
    const int i = t / bands;
    const int band = t % bands;
    OutputPlanes planes;
    planes.data = static_cast<char*>(out) + static_cast<std::size_t>(i) * image_elems * elem_size;
    planes.half = half;
    const Item& item = items[i / k];
    if (mosaic) {
      Scratch& s = thread_scratch();
      s.row.resize(image_elems);
      patch_mosaic_rgb(item.view, g.out_w, g.out_h, config_.view.patch_size, item.seed, item.fill_rgb, s.row.data());
      for (int y = 0; y < g.out_h; ++y)
        store_rgb_row(s.row.data() + static_cast<std::size_t>(y) * g.out_w * 3, y, g.out_w, g.out_h, tables_, kernels_,
                      planes);
      return;
    }
    const int row_begin = static_cast<int>(static_cast<int64_t>(g.out_h) * band / bands);
    const int row_end = static_cast<int>(static_cast<int64_t>(g.out_h) * (band + 1) / bands);
    preprocess_rows(item.view, plans[i], tables_, item.fill_rgb, kernels_, planes, row_begin, row_end,
                    thread_scratch());
  };
  if (threads == 1) {
    for (int t = 0; t < n * bands; ++t) task(t, 0);
  } else {
    pool_.parallel_for(n * bands, task);
  }
}

void Engine::run_u8(const Item& item, uint8_t* out) {
  const GeometrySpec& g = config_.geometry;
  const std::size_t image_bytes = static_cast<std::size_t>(3) * g.out_h * g.out_w;
  if (config_.view.view == View::Patches) {
    patch_mosaic_rgb(item.view, g.out_w, g.out_h, config_.view.patch_size, item.seed, item.fill_rgb, out);
    return;
  }
  for (int t = 0; t < outputs_per_image(); ++t)
    resize_rgb8(item.view, plan(item.view.width, item.view.height, t), item.fill_rgb, kernels_,
                out + static_cast<std::size_t>(t) * image_bytes, thread_scratch());
}

}  // namespace pinclip
