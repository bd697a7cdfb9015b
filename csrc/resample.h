// Pillow's antialiased resampling (src/libImaging/Resample.c), 8 bits per channel, ported exactly.
//
// Adapted from Pillow (HPND licence, Copyright (c) 1997-2011 Secret Labs AB, 1995-2011 Fredrik Lundh,
// Alex Clark and contributors). The coefficients are computed in double as Pillow does, then
// rounded to Q22 fixed point; the passes are pure integer arithmetic, so any implementation that
// sums the same int32 products (scalar or SIMD) gives bit-identical pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "geometry.h"

namespace pinclip {

// 8 bits for the result, 2 extra bits for the overshoot of negative lobes: 32 - 8 - 2.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Filter taps for a contiguous run of output positions along one axis.
struct Coeffs {
  int first = 0;          // first output position described
  int count = 0;          // number of output positions
  int ksize = 0;          // stride between the taps of consecutive positions
  int precision = 22;     // fixed-point bits of `k`: kPrecisionBits (exact) or fewer (fast mode)
  bool int16 = false;     // every weight fits int16 (set by quantize_int16)
  std::vector<int> xmin;  // first source index read by each position
  std::vector<int> taps;  // number of source indices read by each position
  std::vector<int32_t> k; // count * ksize Q22 weights, zero past `taps`
  // SIMD layout of `k`, built on first use by the kernels for a channel count (see resample_avx2.cpp).
  mutable std::vector<int16_t> packed;    // AVX2: int16 weight vectors
  mutable std::vector<int32_t> packed32;  // NEON: weights padded to 8 taps
  mutable int packed_nc = 0;
  mutable std::vector<int32_t> packed_digits;   // AVX-512 VNNI: signed byte digits of 4-tap groups
  mutable std::vector<int32_t> packed_aligned;  // the same, taps shifted to start on a multiple of 4
  mutable int packed_aligned_phase = -1;        // x_origin % 4 that packed_aligned was built for
  mutable bool top_digit = true;                // some weight needs the third byte digit (set when packed)
  mutable std::vector<int32_t> packed_pairs;    // AVX2 staged: (kh, kl) words of 2-tap pairs
  mutable int packed_pairs_phase = -1;          // x_origin % 2 that packed_pairs was built for

  // Forgets the SIMD layouts above (all derived from `k`): the kernels rebuild them on next use.
  void drop_packing() const {
    packed.clear();
    packed32.clear();
    packed_nc = 0;
    packed_digits.clear();
    packed_aligned.clear();
    packed_aligned_phase = -1;
    top_digit = true;
    packed_pairs.clear();
    packed_pairs_phase = -1;
  }
};

// Pillow `precompute_coeffs` + `normalize_coeffs_8bpc` for output positions [first, first + count)
// of a resize from `in_size` to `out_size`. Throws std::length_error if the table would be absurd.
Coeffs compute_coeffs(int64_t in_size, int64_t out_size, Filter filter, int64_t first, int count);

// The staged kernels read each position's taps as whole blocks of `block` pixels (2 or 4) counted
// from the row start: position p = xmin - x_origin reads blocks [p / block, p / block + spanned).
inline int blocks_spanned(int p, int taps, int block) { return (p % block + taps + block - 1) / block; }

struct BlockRange {
  int first = 0;  // first block any position reads
  int end = 0;    // one past the last
};
inline BlockRange staged_blocks(const Coeffs& c, int x_origin, int block) {
  BlockRange range{(c.xmin[0] - x_origin) / block, (c.xmin[0] - x_origin) / block};
  for (int i = 0; i < c.count; ++i) {
    const int p = c.xmin[i] - x_origin;
    range.first = p / block < range.first ? p / block : range.first;
    const int end = p / block + blocks_spanned(p, c.taps[i], block);
    range.end = end > range.end ? end : range.end;
  }
  return range;
}

// A 4-byte store at any address (the staged kernels write each row's RGB pixel as a dword).
inline void store_dword(uint8_t* dst, int32_t v) { std::memcpy(dst, &v, 4); }

// Fast mode: requantises the weights to the most bits that keep every weight within int16, as
// Pillow-SIMD does, so SIMD needs one multiply per tap pair instead of two. Not bit-exact (the
// weights are rounded to ~15 bits instead of 22); tests/core bound the effect on the output.
void quantize_int16(Coeffs& c);

// The taps of an unchanged axis (Pillow skips the pass; weight 1.0 in Q22 gives the same pixels).
Coeffs identity_coeffs(int64_t first, int count);

inline uint8_t clip8(int32_t ss, int precision = kPrecisionBits) {
  const int32_t v = ss >> precision;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One row, horizontal pass: `row` points at source pixel `x_origin`, pixels `pixel_stride` bytes
// apart with `nc` contiguous channels, `in_pixels` of them readable from `row`; writes c.count
// pixels of `nc` channels to `out`.
void resample_row_horizontal(const uint8_t* row, std::ptrdiff_t pixel_stride, int nc, const Coeffs& c,
                             int x_origin, int in_pixels, uint8_t* out);

// Vertical pass for output position `index` (0-based in `c`) over a band of `width_bytes`-wide rows
// `band_stride` apart; `band_first` is the source row held in band row 0.
void resample_row_vertical(const uint8_t* band, std::ptrdiff_t band_stride, int band_first,
                           std::size_t width_bytes, const Coeffs& c, int index, uint8_t* out);

// Four rows at once (the scalar version just loops).
void resample_rows4_horizontal(const uint8_t* const rows[4], std::ptrdiff_t pixel_stride, int nc, const Coeffs& c,
                               int x_origin, int in_pixels, uint8_t* const outs[4]);

// The SIMD variants chosen at run time (null when the CPU or build lacks them).
using HorizontalFn = void (*)(const uint8_t*, std::ptrdiff_t, int, const Coeffs&, int, int, uint8_t*);
using HorizontalBlockFn = void (*)(const uint8_t* const*, std::ptrdiff_t, int, const Coeffs&, int, int,
                                   uint8_t* const*);
using VerticalFn = void (*)(const uint8_t*, std::ptrdiff_t, int, std::size_t, const Coeffs&, int, uint8_t*);
// One RGB row into three float32 planes through per-channel lookup tables (ToTensor + Normalize):
// out[c][x] = lut[c][rgb[3x + c]] for x < width.
using PlanesFn = void (*)(const uint8_t* rgb, int width, const float* const lut[3], float* const out[3]);
struct Kernels {
  HorizontalFn horizontal;
  HorizontalBlockFn horizontal_block;  // `block_rows` rows sharing the weights
  int block_rows;
  VerticalFn vertical;
  PlanesFn planes_f32;
  const char* name;
};
void rgb_to_planes_f32(const uint8_t* rgb, int width, const float* const lut[3], float* const out[3]);

// The fastest exact kernels this CPU supports; `allow_simd = false` forces the scalar ones. The
// environment variable PINCLIP_MAX_SIMD (scalar, avx2, avx512vnni) caps the choice, like oneDNN's
// ONEDNN_MAX_CPU_ISA: for tests of every path on one machine and for A/B measurements.
Kernels select_kernels(bool allow_simd);

// The kernels of one level by name ("scalar", "avx2", "avx512vnni", "neon"); `name` null when this
// build or CPU lacks them.
Kernels kernels_by_name(const char* name);

}  // namespace pinclip
