#include "resample.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pinclip {
namespace {

// Keys cubic convolution with a = -0.5 (https://en.wikipedia.org/wiki/Bicubic_interpolation).
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

struct FilterDef {
  double (*fn)(double);
  double support;
};

FilterDef filter_def(Filter f) {
  return f == Filter::Bicubic ? FilterDef{bicubic_filter, 2.0} : FilterDef{bilinear_filter, 1.0};
}

// Largest coefficient table we agree to build (positions x taps); far beyond any real resize.
constexpr int64_t kMaxCoeffs = int64_t{1} << 28;

}  // namespace

Coeffs compute_coeffs(int64_t in_size, int64_t out_size, Filter filter, int64_t first, int count) {
  const FilterDef fd = filter_def(filter);
  if (in_size < 1 || out_size < 1 || first < 0 || count < 0 || first + count > out_size)
    throw std::invalid_argument("compute_coeffs: bad sizes");
  // Pillow: box = (0, 0, w, h) as floats, `scale = (double)(in1 - in0) / outSize`.
  const double in0 = static_cast<float>(0);
  const double scale = static_cast<double>(static_cast<float>(in_size) - static_cast<float>(0)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = fd.support * filterscale;
  const int64_t ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  // Overflow checked before allocating: the table is count * ksize entries.
  if (ksize > kMaxCoeffs || static_cast<int64_t>(count) * ksize > kMaxCoeffs)
    throw std::length_error("resize coefficient table too large");

  Coeffs c;
  c.first = static_cast<int>(first);
  c.count = count;
  c.ksize = static_cast<int>(ksize);
  c.xmin.resize(count);
  c.taps.resize(count);
  c.k.assign(static_cast<std::size_t>(count) * ksize, 0);
  std::vector<double> w(ksize);
  for (int i = 0; i < count; ++i) {
    const int64_t xx = first + i;
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);  // truncation, as Pillow's (int)
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      const double v = fd.fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    int32_t* k = &c.k[static_cast<std::size_t>(i) * ksize];
    for (int64_t x = 0; x < xmax; ++x) {
      double v = w[x];
      if (ww != 0.0) v /= ww;
      // normalize_coeffs_8bpc: round half away from zero into Q22.
      k[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[i] = static_cast<int>(xmin);
    c.taps[i] = static_cast<int>(xmax);
  }
  return c;
}

void quantize_int16(Coeffs& c) {
  int32_t max_abs = 1;
  for (int32_t k : c.k) max_abs = std::max(max_abs, k < 0 ? -k : k);
  int bits = kPrecisionBits;
  // At most 32384, not 32767: then every weight is two signed byte digits (d0 + 256 * d1, both in
  // [-128, 127]), so the VNNI kernels need two dot products per group instead of three.
  constexpr int64_t kMaxWeight = 32384;
  while (bits > 1 && static_cast<int64_t>(0.5 + max_abs * std::ldexp(1.0, bits - kPrecisionBits)) > kMaxWeight) --bits;
  const double scale = std::ldexp(1.0, bits - kPrecisionBits);
  for (int32_t& k : c.k) k = static_cast<int32_t>(k < 0 ? -0.5 + k * scale : 0.5 + k * scale);
  c.precision = bits;
  c.int16 = true;
  c.layouts.clear();  // built from the old weights
}

Coeffs identity_coeffs(int64_t first, int count) {
  Coeffs c;
  c.first = static_cast<int>(first);
  c.count = count;
  c.ksize = 1;
  c.xmin.resize(count);
  c.taps.assign(count, 1);
  c.k.assign(count, int32_t{1} << kPrecisionBits);
  for (int i = 0; i < count; ++i) c.xmin[i] = static_cast<int>(first + i);
  return c;
}

namespace {

template <int NC>
void horizontal_scalar(const uint8_t* row, std::ptrdiff_t px, const Coeffs& c, int x_origin, uint8_t* out) {
  for (int i = 0; i < c.count; ++i) {
    const int32_t* k = &c.k[static_cast<std::size_t>(i) * c.ksize];
    const uint8_t* p = row + static_cast<std::ptrdiff_t>(c.xmin[i] - x_origin) * px;
    int32_t ss[NC];
    for (int ch = 0; ch < NC; ++ch) ss[ch] = 1 << (c.precision - 1);
    const int n = c.taps[i];
    for (int t = 0; t < n; ++t, p += px)
      for (int ch = 0; ch < NC; ++ch) ss[ch] += p[ch] * k[t];
    for (int ch = 0; ch < NC; ++ch) out[i * NC + ch] = clip8(ss[ch], c.precision);
  }
}

}  // namespace

void resample_row_horizontal(const uint8_t* row, std::ptrdiff_t pixel_stride, int nc, const Coeffs& c,
                             int x_origin, int /*in_pixels*/, uint8_t* out) {
  switch (nc) {
    case 1: horizontal_scalar<1>(row, pixel_stride, c, x_origin, out); break;
    case 3: horizontal_scalar<3>(row, pixel_stride, c, x_origin, out); break;
    case 4: horizontal_scalar<4>(row, pixel_stride, c, x_origin, out); break;
    default: throw std::invalid_argument("resample_row_horizontal: channels must be 1, 3 or 4");
  }
}

void resample_rows4_horizontal(const uint8_t* const rows[4], std::ptrdiff_t pixel_stride, int nc, const Coeffs& c,
                               int x_origin, int in_pixels, uint8_t* const outs[4]) {
  for (int r = 0; r < 4; ++r) resample_row_horizontal(rows[r], pixel_stride, nc, c, x_origin, in_pixels, outs[r]);
}

void resample_row_vertical(const uint8_t* band, std::ptrdiff_t band_stride, int band_first,
                           std::size_t width_bytes, const Coeffs& c, int index, uint8_t* out) {
  const int32_t* k = &c.k[static_cast<std::size_t>(index) * c.ksize];
  const uint8_t* base = band + static_cast<std::ptrdiff_t>(c.xmin[index] - band_first) * band_stride;
  const int n = c.taps[index];
  for (std::size_t x = 0; x < width_bytes; ++x) {
    int32_t ss = 1 << (c.precision - 1);
    const uint8_t* p = base + x;
    for (int t = 0; t < n; ++t, p += band_stride) ss += *p * k[t];
    out[x] = clip8(ss, c.precision);
  }
}

}  // namespace pinclip

namespace pinclip {

#if defined(PINCLIP_HAVE_AVX2)
void horizontal_avx2(const uint8_t*, std::ptrdiff_t, int, const Coeffs&, int, int, uint8_t*);
void horizontal8_avx2(const uint8_t* const*, std::ptrdiff_t, int, const Coeffs&, int, int, uint8_t* const*);
void vertical_avx2(const uint8_t*, std::ptrdiff_t, int, std::size_t, const Coeffs&, int, uint8_t*);
void planes_f32_avx2(const uint8_t*, int, const float* const[3], float* const[3]);
void horizontal5_avx512vnni(const uint8_t* const*, std::ptrdiff_t, int, const Coeffs&, int, int, uint8_t* const*);
void vertical_avx512vnni(const uint8_t*, std::ptrdiff_t, int, std::size_t, const Coeffs&, int, uint8_t*);
#endif
#if defined(__aarch64__)
void horizontal_neon(const uint8_t*, std::ptrdiff_t, int, const Coeffs&, int, int, uint8_t*);
void horizontal4_neon(const uint8_t* const[4], std::ptrdiff_t, int, const Coeffs&, int, int, uint8_t* const[4]);
void vertical_neon(const uint8_t*, std::ptrdiff_t, int, std::size_t, const Coeffs&, int, uint8_t*);
#endif

void rgb_to_planes_f32(const uint8_t* rgb, int width, const float* const lut[3], float* const out[3]) {
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < width; ++x) out[c][x] = lut[c][rgb[3 * x + c]];
}

namespace {

// Fastest first; a level is used when the build has it and the CPU supports it.
constexpr const char* kLevels[] = {"avx512vnni", "avx2", "neon", "scalar"};

int level_rank(const char* name) {
  for (int i = 0; i < 4; ++i)
    if (std::strcmp(kLevels[i], name) == 0) return i;
  return -1;
}

}  // namespace

Kernels kernels_by_name(const char* name) {
  const std::string level = name;
  if (level == "scalar")
    return Kernels{resample_row_horizontal, resample_rows4_horizontal, 4, resample_row_vertical, rgb_to_planes_f32,
                   "scalar"};
#if defined(PINCLIP_HAVE_AVX2)
  __builtin_cpu_init();  // idempotent; needed where no constructor ran it (static builds, early callers)
  if (level == "avx2" && __builtin_cpu_supports("avx2"))
    return Kernels{horizontal_avx2, horizontal8_avx2, 8, vertical_avx2, planes_f32_avx2, "avx2"};
  // The 5-row horizontal and the vertical pass use VNNI byte dot products; single rows stay AVX2.
  if (level == "avx512vnni" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512vnni"))
    return Kernels{horizontal_avx2, horizontal5_avx512vnni, 5, vertical_avx512vnni, planes_f32_avx2, "avx512vnni"};
#elif defined(__aarch64__)
  if (level == "neon")  // aarch64 baseline
    return Kernels{horizontal_neon, horizontal4_neon, 4, vertical_neon, rgb_to_planes_f32, "neon"};
#endif
  return Kernels{nullptr, nullptr, 0, nullptr, nullptr, nullptr};
}

Kernels select_kernels(bool allow_simd) {
  int first = allow_simd ? 0 : level_rank("scalar");
  if (const char* cap = std::getenv("PINCLIP_MAX_SIMD"); cap != nullptr && level_rank(cap) >= 0)
    first = std::max(first, level_rank(cap));
  for (int i = first; i < 4; ++i) {
    const Kernels k = kernels_by_name(kLevels[i]);
    if (k.name != nullptr) return k;
  }
  return kernels_by_name("scalar");
}

}  // namespace pinclip
