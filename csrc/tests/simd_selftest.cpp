// Self-test of every SIMD resample kernel level this CPU runs against the scalar kernels (built for
// aarch64 and run under qemu-aarch64 by tests/core/test_neon.py, and natively). Exit code 0 = all equal.
#include <cstdio>
#include <random>
#include <vector>

#include "../resample.h"

using namespace pinclip;

namespace {

int check_level(const Kernels& simd, std::mt19937& rng, int& cases) {
  const Kernels scalar = kernels_by_name("scalar");
  int failures = 0;
  const int sizes[][2] = {{1920, 224}, {1920, 398}, {333, 224}, {100, 280}, {7, 3}, {3, 7}, {640, 298},
                          {3840, 224}, {50, 49}, {1, 5}, {9000, 17}, {64, 64}};
  for (auto& sz : sizes) {
    for (Filter f : {Filter::Bicubic, Filter::Bilinear}) {
      for (bool fast : {false, true}) {
        const int in = sz[0], out = sz[1];
        Coeffs c = compute_coeffs(in, out, f, 0, out);
        if (fast) quantize_int16(c);
        for (int nc : {3, 4}) {
          // a block of rows, the last one extreme (0 / 255) to exercise the clamps
          const int n = simd.block_rows;
          std::vector<std::vector<uint8_t>> rows(n, std::vector<uint8_t>(static_cast<std::size_t>(in) * nc));
          for (int r = 0; r < n; ++r)
            for (auto& v : rows[r]) v = static_cast<uint8_t>(r == n - 1 ? (rng() & 1) * 255 : rng());
          std::vector<std::vector<uint8_t>> a(n, std::vector<uint8_t>(static_cast<std::size_t>(out) * nc)), b = a, ab = a;
          const uint8_t* srcs[8];
          uint8_t* dsts[8];
          for (int r = 0; r < n; ++r) {
            simd.horizontal(rows[r].data(), nc, nc, c, 0, in, a[r].data());
            scalar.horizontal(rows[r].data(), nc, nc, c, 0, in, b[r].data());
            srcs[r] = rows[r].data();
            dsts[r] = ab[r].data();
          }
          simd.horizontal_block(srcs, nc, nc, c, 0, in, dsts);
          cases += 2;
          if (a != b) {
            ++failures;
            std::printf("%s horizontal mismatch in=%d out=%d nc=%d fast=%d\n", simd.name, in, out, nc, fast);
          }
          if (ab != b) {
            ++failures;
            std::printf("%s horizontal_block mismatch in=%d out=%d nc=%d fast=%d\n", simd.name, in, out, nc, fast);
          }
        }
        // vertical: a band of `in` rows; 61 and 150 bytes are not multiples of the vector widths
        for (std::size_t width : {std::size_t{61}, std::size_t{150}}) {
          std::vector<uint8_t> band(static_cast<std::size_t>(in) * width);
          for (auto& v : band) v = static_cast<uint8_t>(rng() % 3 == 0 ? (rng() & 1) * 255 : rng());
          for (int i = 0; i < out; ++i) {
            std::vector<uint8_t> a(width), b(width);
            simd.vertical(band.data(), width, 0, width, c, i, a.data());
            scalar.vertical(band.data(), width, 0, width, c, i, b.data());
            ++cases;
            if (a != b) {
              ++failures;
              std::printf("%s vertical mismatch in=%d out=%d row=%d width=%zu fast=%d\n", simd.name, in, out, i,
                          width, fast);
              break;
            }
          }
        }
      }
    }
  }
  // RGB row -> three float planes through tables, widths around the 8-pixel step
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int u = 0; u < 256; ++u) lut[c][u] = (u / 255.0f - 0.4f * c) / (0.25f + 0.01f * c);
  const float* luts[3] = {lut[0], lut[1], lut[2]};
  for (int width : {1, 7, 8, 9, 224, 227}) {
    std::vector<uint8_t> rgb(static_cast<std::size_t>(width) * 3);
    for (auto& v : rgb) v = static_cast<uint8_t>(rng());
    std::vector<float> a(static_cast<std::size_t>(width) * 3), b(a.size());
    float* pa[3] = {a.data(), a.data() + width, a.data() + 2 * width};
    float* pb[3] = {b.data(), b.data() + width, b.data() + 2 * width};
    simd.planes_f32(rgb.data(), width, luts, pa);
    scalar.planes_f32(rgb.data(), width, luts, pb);
    ++cases;
    if (a != b) {
      ++failures;
      std::printf("%s planes_f32 mismatch width=%d\n", simd.name, width);
    }
  }
  return failures;
}

}  // namespace

int main() {
  std::mt19937 rng(1234);
  int failures = 0, cases = 0;
  for (const char* level : {"avx512vnni", "avx2", "neon"}) {
    const Kernels simd = kernels_by_name(level);
    if (simd.name == nullptr) continue;
    std::printf("kernels: %s\n", simd.name);
    failures += check_level(simd, rng, cases);
  }
  std::printf("%d cases, %d failures\n", cases, failures);
  return failures == 0 ? 0 : 1;
}
