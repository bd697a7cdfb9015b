// The preprocessing engine: a spec (geometry + normalisation tables), the kernels chosen for this
// CPU and a persistent thread pool. Pure C++; bindings.cpp wraps it for Python.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "geometry.h"
#include "normalize.h"
#include "pipeline.h"
#include "resample.h"
#include "thread_pool.h"
#include "views.h"

namespace pinclip {

struct EngineConfig {
  GeometrySpec geometry;
  ViewSpec view;
  double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  double std_dev[3] = {0.26862954, 0.26130258, 0.27577711};
  int num_threads = 1;
  bool allow_simd = true;
  bool exact = true;  // false: int16 weights (fast mode, measured within one level)
};

struct Item {
  ImageView view;
  uint8_t fill_rgb[3] = {0, 0, 0};
  uint64_t seed = 0;  // the patch mosaic's shuffle
};

class Engine {
 public:
  explicit Engine(const EngineConfig& config);

  const EngineConfig& config() const { return config_; }
  const Tables& tables() const { return tables_; }
  const Kernels& kernels() const { return kernels_; }
  int num_threads() const { return pool_.size(); }

  int outputs_per_image() const { return pinclip::outputs_per_image(config_.view); }

  // Preprocesses items[i] into out + (i * k + t) * (3 * out_h * out_w) elements, t < k =
  // outputs_per_image(). Safe to call from several threads at once: a call that finds the pool
  // busy runs on its own thread instead of waiting.
  void run(const std::vector<Item>& items, void* out, bool half);

  // The uint8 RGB outputs of one item before normalisation, [k, out_h, out_w, 3] (parity debugging).
  void run_u8(const Item& item, uint8_t* out);

  // The plan of output `t` of a width x height image (resize, crop and tiles views).
  Plan plan(int64_t width, int64_t height, int t = 0) const;

 private:
  EngineConfig config_;
  Tables tables_;
  Kernels kernels_;
  ThreadPool pool_;
  std::mutex pool_mutex_;
};

// Thread-local scratch buffers (each OS thread, caller or worker, has its own).
Scratch& thread_scratch();

}  // namespace pinclip
