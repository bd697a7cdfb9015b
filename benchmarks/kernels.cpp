// Times the resample passes of each kernel level this CPU runs on the 1080p -> 224 case of
// benchmarks/preprocess.py (shortest side 224, centre crop): the horizontal pass over all 1080 rows
// into the 224 cropped columns, then the vertical pass, one thread. Built and run by
// benchmarks/kernels.py; the scalar level is the baseline of the printed ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "../csrc/resample.h"

using namespace pinclip;

namespace {

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int repeat = argc > 1 ? std::atoi(argv[1]) : 200;
  const int width = 1920, height = 1080, out = 224;
  std::vector<uint8_t> image(static_cast<std::size_t>(width) * height * 3);
  std::mt19937 rng(0);
  for (auto& v : image) v = static_cast<uint8_t>(rng());
  // 1920x1080 -> 398x224; the centre crop keeps columns 87..310.
  const Coeffs hc = compute_coeffs(width, 398, Filter::Bicubic, 87, out);
  const Coeffs vc = compute_coeffs(height, out, Filter::Bicubic, 0, out);
  const std::size_t band_w = static_cast<std::size_t>(out) * 3;
  std::vector<uint8_t> band(band_w * height), row(band_w);
  double base_h = 0, base_v = 0;
  for (const char* level : {"scalar", "avx2", "avx512vnni", "neon"}) {
    const Kernels k = kernels_by_name(level);
    if (k.name == nullptr) continue;
    auto horizontal = [&] {
      const uint8_t* rows[8];
      uint8_t* dsts[8];
      int y = 0;
      for (; y + k.block_rows <= height; y += k.block_rows) {
        for (int r = 0; r < k.block_rows; ++r) {
          rows[r] = image.data() + static_cast<std::size_t>(y + r) * width * 3;
          dsts[r] = band.data() + band_w * (y + r);
        }
        k.horizontal_block(rows, 3, 3, hc, 0, width, dsts);
      }
      for (; y < height; ++y)
        k.horizontal(image.data() + static_cast<std::size_t>(y) * width * 3, 3, 3, hc, 0, width, band.data() + band_w * y);
    };
    auto vertical = [&] {
      for (int i = 0; i < out; ++i) k.vertical(band.data(), band_w, 0, band_w, vc, i, row.data());
    };
    const int n = k.name == std::string("scalar") ? std::max(1, repeat / 10) : repeat;
    std::vector<double> th, tv;
    horizontal();  // warm-up (packing, staging buffers)
    vertical();
    for (int r = 0; r < n; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      horizontal();
      const auto t1 = std::chrono::steady_clock::now();
      vertical();
      const auto t2 = std::chrono::steady_clock::now();
      th.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      tv.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    const double h = median_ms(th), v = median_ms(tv);
    if (base_h == 0) base_h = h, base_v = v;
    std::printf("%-11s horizontal %7.3f ms (%5.1fx scalar)   vertical %7.3f ms (%5.1fx scalar)\n", k.name, h,
                base_h / h, v, base_v / v);
  }
  return 0;
}
