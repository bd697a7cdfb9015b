// NEON versions of the resample passes (aarch64, e.g. Jetson Orin), bit-identical to the scalar ones.
//
// NEON multiplies int32 lanes directly (`vmlaq_s32`, modulo 2^32), so the Q22 weights need no
// splitting: every lane accumulates exactly Pillow's int32 sum. RGB / RGBA rows are deinterleaved
// 8 pixels at a time with vld3 / vld4, the weights of 8 taps are multiplied lane-wise and the lanes
// are added at the end. NEON is part of the aarch64 baseline, so no run-time check is needed.
// Tested against the scalar kernels under qemu-aarch64 (csrc/tests/simd_selftest.cpp).
#include "resample.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>
#include <vector>

namespace pinclip {
namespace {

// Weights padded with zeros to a multiple of 8 taps per output, as int32.
int padded_taps(const Coeffs& c) { return (c.ksize + 7) / 8 * 8; }

// This file's layout of a table's weights, kept in Coeffs::layouts so that it is packed once per table.
struct NeonLayout final : KernelLayout {
  bool built = false;
  LayoutVector<int32_t> padded;  // count x padded_taps(c) weights
};

// The padded weights of `c`, packed on first use.
const int32_t* padded_weights(const Coeffs& c) {
  NeonLayout& layout = c.layouts.get<NeonLayout>();
  if (!layout.built) {
    const int stride = padded_taps(c);
    layout.padded.assign(static_cast<std::size_t>(c.count) * stride, 0);
    for (int i = 0; i < c.count; ++i)
      std::memcpy(&layout.padded[static_cast<std::size_t>(i) * stride], &c.k[static_cast<std::size_t>(i) * c.ksize],
                  sizeof(int32_t) * c.taps[i]);
    layout.built = true;
  }
  return layout.padded.data();
}

// acc += widen(p[0..7]) * k[0..7], as two int32x4 accumulators folded into one.
inline int32x4_t dot8(int32x4_t acc, uint8x8_t p, const int32_t* k) {
  const int16x8_t w = vreinterpretq_s16_u16(vmovl_u8(p));
  acc = vmlaq_s32(acc, vmovl_s16(vget_low_s16(w)), vld1q_s32(k));
  return vmlaq_s32(acc, vmovl_s16(vget_high_s16(w)), vld1q_s32(k + 4));
}

template <int NC>
void horizontal_row(const uint8_t* row, const Coeffs& c, const int32_t* weights, int x_origin, int in_pixels,
                    uint8_t* out) {
  const int stride = padded_taps(c);
  for (int i = 0; i < c.count; ++i) {
    const int x0 = c.xmin[i] - x_origin;
    const int taps = c.taps[i];
    const int32_t* k = weights + static_cast<std::size_t>(i) * stride;
    int32x4_t acc[NC];
    for (int ch = 0; ch < NC; ++ch) acc[ch] = vdupq_n_s32(0);
    int t = 0;
    for (; t < taps && x0 + t + 8 <= in_pixels; t += 8) {  // whole 8-pixel loads stay inside the row
      const uint8_t* p = row + (x0 + t) * NC;
      if (NC == 3) {
        const uint8x8x3_t v = vld3_u8(p);
        for (int ch = 0; ch < 3; ++ch) acc[ch] = dot8(acc[ch], v.val[ch], k + t);
      } else {
        const uint8x8x4_t v = vld4_u8(p);
        for (int ch = 0; ch < NC; ++ch) acc[ch] = dot8(acc[ch], v.val[ch], k + t);
      }
    }
    for (int ch = 0; ch < NC; ++ch) {
      int32_t ss = vaddvq_s32(acc[ch]) + (1 << (c.precision - 1));
      for (int u = t; u < taps; ++u) ss += row[(x0 + u) * NC + ch] * k[u];
      out[i * NC + ch] = clip8(ss, c.precision);
    }
  }
}

}  // namespace

void horizontal_neon(const uint8_t* row, std::ptrdiff_t pixel_stride, int nc, const Coeffs& c, int x_origin,
                     int in_pixels, uint8_t* out) {
  if ((nc != 3 && nc != 4) || pixel_stride != nc) {
    resample_row_horizontal(row, pixel_stride, nc, c, x_origin, in_pixels, out);
    return;
  }
  const int32_t* weights = padded_weights(c);
  if (nc == 3) {
    horizontal_row<3>(row, c, weights, x_origin, in_pixels, out);
  } else {
    horizontal_row<4>(row, c, weights, x_origin, in_pixels, out);
  }
}

void horizontal4_neon(const uint8_t* const rows[4], std::ptrdiff_t pixel_stride, int nc, const Coeffs& c,
                      int x_origin, int in_pixels, uint8_t* const outs[4]) {
  for (int r = 0; r < 4; ++r) horizontal_neon(rows[r], pixel_stride, nc, c, x_origin, in_pixels, outs[r]);
}

void vertical_neon(const uint8_t* band, std::ptrdiff_t band_stride, int band_first, std::size_t width_bytes,
                   const Coeffs& c, int index, uint8_t* out) {
  const int32_t* k = &c.k[static_cast<std::size_t>(index) * c.ksize];
  const uint8_t* base = band + static_cast<std::ptrdiff_t>(c.xmin[index] - band_first) * band_stride;
  const int taps = c.taps[index];
  const int32x4_t bias = vdupq_n_s32(1 << (c.precision - 1));
  const int32x4_t shift = vdupq_n_s32(-c.precision);
  std::size_t x = 0;
  for (; x + 16 <= width_bytes; x += 16) {
    int32x4_t acc[4] = {bias, bias, bias, bias};
    for (int t = 0; t < taps; ++t) {
      const uint8x16_t p = vld1q_u8(base + t * band_stride + x);
      const int16x8_t lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(p)));
      const int16x8_t hi = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(p)));
      acc[0] = vmlaq_n_s32(acc[0], vmovl_s16(vget_low_s16(lo)), k[t]);
      acc[1] = vmlaq_n_s32(acc[1], vmovl_s16(vget_high_s16(lo)), k[t]);
      acc[2] = vmlaq_n_s32(acc[2], vmovl_s16(vget_low_s16(hi)), k[t]);
      acc[3] = vmlaq_n_s32(acc[3], vmovl_s16(vget_high_s16(hi)), k[t]);
    }
    // Arithmetic shift, then saturating narrows: the same clamp to [0, 255] as clip8.
    const int16x8_t w0 = vcombine_s16(vqmovn_s32(vshlq_s32(acc[0], shift)), vqmovn_s32(vshlq_s32(acc[1], shift)));
    const int16x8_t w1 = vcombine_s16(vqmovn_s32(vshlq_s32(acc[2], shift)), vqmovn_s32(vshlq_s32(acc[3], shift)));
    vst1q_u8(out + x, vcombine_u8(vqmovun_s16(w0), vqmovun_s16(w1)));
  }
  for (; x < width_bytes; ++x) {
    int32_t ss = 1 << (c.precision - 1);
    for (int t = 0; t < taps; ++t) ss += base[t * band_stride + x] * k[t];
    out[x] = clip8(ss, c.precision);
  }
}

}  // namespace pinclip

#endif  // __aarch64__
