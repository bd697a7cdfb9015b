// Self-test of the SIMD resample kernels against the scalar ones (built for aarch64 and run under
// qemu-aarch64 by tests/core/test_neon.py; also builds natively). Exit code 0 = all equal.
#include <cstdio>
#include <random>
#include <vector>

#include "../resample.h"

using namespace pinclip;

int main() {
  std::mt19937 rng(1234);
  const Kernels simd = select_kernels(true);
  const Kernels scalar = select_kernels(false);
  std::printf("kernels: %s\n", simd.name);
  int failures = 0, cases = 0;
  const int sizes[][2] = {{1920, 224}, {1920, 398}, {333, 224}, {100, 280}, {7, 3}, {3, 7}, {640, 298},
                          {3840, 224}, {50, 49}, {1, 5}, {9000, 17}};
  for (auto& sz : sizes) {
    for (Filter f : {Filter::Bicubic, Filter::Bilinear}) {
      for (bool fast : {false, true}) {
        const int in = sz[0], out = sz[1];
        Coeffs c = compute_coeffs(in, out, f, 0, out);
        if (fast) quantize_int16(c);
        for (int nc : {3, 4}) {
          std::vector<uint8_t> row(static_cast<std::size_t>(in) * nc);
          for (auto& v : row) v = static_cast<uint8_t>(rng());
          std::vector<uint8_t> a(static_cast<std::size_t>(out) * nc), b(a.size());
          simd.horizontal(row.data(), nc, nc, c, 0, in, a.data());
          scalar.horizontal(row.data(), nc, nc, c, 0, in, b.data());
          ++cases;
          if (a != b) {
            ++failures;
            std::printf("horizontal mismatch in=%d out=%d nc=%d fast=%d\n", in, out, nc, fast);
          }
        }
        // vertical: a band of `in` rows of 61 bytes (not a multiple of 16: exercises the tail)
        const std::size_t width = 61;
        std::vector<uint8_t> band(static_cast<std::size_t>(in) * width);
        for (auto& v : band) v = static_cast<uint8_t>(rng());
        for (int i = 0; i < out; ++i) {
          std::vector<uint8_t> a(width), b(width);
          simd.vertical(band.data(), width, 0, width, c, i, a.data());
          scalar.vertical(band.data(), width, 0, width, c, i, b.data());
          ++cases;
          if (a != b) {
            ++failures;
            std::printf("vertical mismatch in=%d out=%d row=%d fast=%d\n", in, out, i, fast);
            break;
          }
        }
      }
    }
  }
  std::printf("%d cases, %d failures\n", cases, failures);
  return failures == 0 ? 0 : 1;
}
