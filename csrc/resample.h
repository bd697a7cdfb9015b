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
#include <memory>
#include <new>
#include <vector>

#include "geometry.h"

namespace pinclip {

// 8 bits for the result, 2 extra bits for the overshoot of negative lobes: 32 - 8 - 2.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Storage for the kernels' layouts, on 64-byte boundaries: vector loads from a layout then never
// straddle cache lines because of where the heap happened to put it.
template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CacheAlignedAllocator<U>&) const noexcept { return false; }
};
template <class T>
using LayoutVector = std::vector<T, CacheAlignedAllocator<T>>;

// A SIMD kernel's own arrangement of a table's weights, defined and built in that kernel's source
// file (an anonymous-namespace type there). Only the kernel that made a layout reads it.
struct KernelLayout {
  virtual ~KernelLayout() = default;
};

// The layouts that kernels derived from one table, at most one per layout type. A table can feed
// several kernels: the avx512vnni level pairs AVX2 single-row kernels with VNNI ones, and a square
// resize uses one table for both axes. Not thread-safe, like the table's use: each thread has its
// own tables (pipeline.cpp caches them per thread). A copy starts empty (the layouts are rebuilt
// on use), so copies never share mutable state.
class KernelLayouts {
 public:
  KernelLayouts() = default;
  KernelLayouts(const KernelLayouts&) {}
  KernelLayouts& operator=(const KernelLayouts&) {
    clear();
    return *this;
  }
  KernelLayouts(KernelLayouts&&) noexcept = default;
  KernelLayouts& operator=(KernelLayouts&&) noexcept = default;

  // The layout of type L, default-constructed (empty) on first request; the kernel fills it.
  template <class L>
  L& get() {
    for (const Slot& s : slots_)
      if (s.kind == &kKind<L>) return static_cast<L&>(*s.layout);
    slots_.push_back(Slot{&kKind<L>, std::make_unique<L>()});
    return static_cast<L&>(*slots_.back().layout);
  }

  // Forgets every layout (after the weights change).
  void clear() { slots_.clear(); }

 private:
  // One address per layout type: cheaper than RTTI on a per-row lookup. Not const, so that no
  // constant merging can give two types the same address.
  template <class L>
  static inline char kKind = 0;
  struct Slot {
    const void* kind;
    std::unique_ptr<KernelLayout> layout;
  };
  std::vector<Slot> slots_;
};

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
  // The kernels' layouts of `k`, built on first use and kept with the table, so that a cached
  // table is packed once, not every frame. Whoever changes `k` clears them.
  mutable KernelLayouts layouts;
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
