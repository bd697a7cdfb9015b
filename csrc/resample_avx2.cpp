// AVX2 versions of the resample passes, bit-identical to the scalar ones.
//
// Exact mode: Pillow sums int32 products pix * k with k in Q22, too wide for the int16 multiplies
// of `_mm256_madd_epi16`. Each weight is split as k = (kh << 11) + kl with kl = k & 2047 and
// kh = k >> 11 (both fit int16); madd gives the exact products of each half and
// (madd_h << 11) + madd_l is the exact pix * k sum of the pair. All lane arithmetic is modulo 2^32
// and Pillow's own int32 total never overflows, so the SIMD total is the same integer as Pillow's,
// whatever the kernel size or the order of the additions.
// Fast mode: the weights were requantised to fit int16 (Coeffs::precision < 22), one madd per pair.
//
// Horizontal: eight RGB rows at a time go through a staging buffer (no shuffle per tap; see
// horizontal_rows8_rgb); single rows and RGBA use a byte shuffle per 4-tap group.
//
// Compiled for AVX2 per function (target attribute), chosen at run time by select_kernels(): the
// module itself needs only the x86-64 baseline.
#include "resample.h"

#if defined(PINCLIP_HAVE_AVX2)

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace pinclip {
namespace {

#define PINCLIP_AVX2 __attribute__((target("avx2")))

bool fits_int16(const Coeffs& c) { return c.int16; }

// This file's layout of a table's weights, kept in Coeffs::layouts so that it is packed once per
// table: the shuffle kernels' vectors for one channel count, the staged kernel's tap pairs for one
// phase of x_origin (each rebuilt when asked for another).
struct Avx2Layout final : KernelLayout {
  int nc = 0;                             // channel count of `shuffle_weights` (0: not built)
  LayoutVector<int16_t> shuffle_weights;  // see pack_horizontal
  int pairs_phase = -1;                   // x_origin % 2 of `pairs` (-1: not built)
  LayoutVector<int32_t> pairs;            // see pack_pairs
};

Avx2Layout& layout_of(const Coeffs& c) { return c.layouts.get<Avx2Layout>(); }

// Packs the weights of each output position as 4-tap groups of int16 vectors laid out for the byte
// shuffle of the kernels: (k_t, k_t+1) pairs repeated per channel, taps t, t+1 in the low lane and
// t+2, t+3 in the high lane. Exact mode stores (kh, kl) per group, fast mode the int16 weights.
void pack_horizontal(const Coeffs& c, int nc, Avx2Layout& layout) {
  const bool split = !fits_int16(c);
  const int vectors = split ? 2 : 1;
  const int groups = (c.ksize + 3) / 4;
  layout.shuffle_weights.assign(static_cast<std::size_t>(c.count) * groups * vectors * 16, 0);
  for (int i = 0; i < c.count; ++i) {
    const int32_t* k = &c.k[static_cast<std::size_t>(i) * c.ksize];
    for (int g = 0; g < groups; ++g) {
      int16_t* hi = &layout.shuffle_weights[(static_cast<std::size_t>(i) * groups + g) * vectors * 16];
      int16_t* lo = hi + 16;
      for (int lane = 0; lane < 2; ++lane) {
        for (int pair = 0; pair < 2; ++pair) {
          const int t = 4 * g + 2 * lane + pair;
          const int32_t w = t < c.taps[i] ? k[t] : 0;
          for (int ch = 0; ch < (nc == 3 ? 3 : 4); ++ch) {
            if (split) {
              hi[lane * 8 + ch * 2 + pair] = static_cast<int16_t>(w >> 11);
              lo[lane * 8 + ch * 2 + pair] = static_cast<int16_t>(w & 2047);
            } else {
              hi[lane * 8 + ch * 2 + pair] = static_cast<int16_t>(w);
            }
          }
        }
      }
    }
  }
  layout.nc = nc;
}

// The shuffle kernels' weights of `c` for `nc` channels, packed on first use.
const int16_t* shuffle_weights(const Coeffs& c, int nc) {
  Avx2Layout& layout = layout_of(c);
  if (layout.nc != nc) pack_horizontal(c, nc, layout);
  return layout.shuffle_weights.data();
}

// The 16 bytes at pixel x are broadcast to both lanes (a load, no shuffle-port uop); the byte
// shuffle then takes pixels x, x+1 in the low lane and x+2, x+3 in the high lane, as int16 pairs
// per channel: R0 R1 G0 G1 B0 B1 (A0 A1 | 0 0).
template <int NC>
PINCLIP_AVX2 inline __m256i pixel_shuffle() {
  return NC == 3 ? _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1, 6, -1, 9, -1, 7, -1,
                                    10, -1, 8, -1, 11, -1, -1, -1, -1, -1)
                 : _mm256_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1, 8, -1, 12, -1, 9, -1,
                                    13, -1, 10, -1, 14, -1, 11, -1, 15, -1);
}

// A group at pixel x loads 16 bytes: readable while x + kReach <= in_pixels.
template <int NC>
constexpr int kReach = NC == 3 ? 6 : 4;

template <bool Split>
PINCLIP_AVX2 inline __m256i group_sum(__m256i v, const __m256i* kv) {
  if (Split) {
    const __m256i hi = _mm256_madd_epi16(v, _mm256_loadu_si256(kv));
    const __m256i lo = _mm256_madd_epi16(v, _mm256_loadu_si256(kv + 1));
    return _mm256_add_epi32(_mm256_slli_epi32(hi, 11), lo);
  }
  return _mm256_madd_epi16(v, _mm256_loadu_si256(kv));
}

template <int NC>
void horizontal_scalar_pixel(const uint8_t* row, const Coeffs& c, int i, int x0, uint8_t* out) {
  const int32_t* k = &c.k[static_cast<std::size_t>(i) * c.ksize];
  for (int ch = 0; ch < NC; ++ch) {
    int32_t ss = 1 << (c.precision - 1);
    for (int t = 0; t < c.taps[i]; ++t) ss += row[(x0 + t) * NC + ch] * k[t];
    out[i * NC + ch] = clip8(ss, c.precision);
  }
}

template <int NC, bool Split>
PINCLIP_AVX2 void horizontal_row(const uint8_t* row, const Coeffs& c, const int16_t* weights, int x_origin,
                                 int in_pixels, uint8_t* out) {
  const __m256i shuffle = pixel_shuffle<NC>();
  constexpr int vectors = Split ? 2 : 1;
  const int groups = (c.ksize + 3) / 4;
  const __m128i bias = _mm_set1_epi32(1 << (c.precision - 1));
  const __m128i shift = _mm_cvtsi32_si128(c.precision);
  for (int i = 0; i < c.count; ++i) {
    const int x0 = c.xmin[i] - x_origin;
    const int used = (c.taps[i] + 3) / 4;
    if (x0 + 4 * (used - 1) + kReach<NC> > in_pixels) {  // a 16-byte load would over-read the row
      horizontal_scalar_pixel<NC>(row, c, i, x0, out);
      continue;
    }
    const __m256i* kv = reinterpret_cast<const __m256i*>(weights + static_cast<std::size_t>(i) * groups * vectors * 16);
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < used; ++g) {
      const uint8_t* p = row + (x0 + 4 * g) * NC;
      const __m256i v = _mm256_shuffle_epi8(
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), shuffle);
      acc = _mm256_add_epi32(acc, group_sum<Split>(v, kv + vectors * g));
    }
    __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    sum4 = _mm_sra_epi32(_mm_add_epi32(sum4, bias), shift);
    const __m128i words = _mm_packs_epi32(sum4, sum4);  // saturating packs clamp like clip8
    const uint32_t pixel = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(words, words)));
    std::memcpy(out + i * NC, &pixel, NC);
  }
}

// Four rows with the same weights (RGBA): each group of weights is loaded once for the four rows,
// and the four results are finished together.
template <int NC, bool Split>
PINCLIP_AVX2 void horizontal_rows4(const uint8_t* const rows[4], const Coeffs& c, const int16_t* weights, int x_origin,
                                   int in_pixels, uint8_t* const outs[4]) {
  const __m256i shuffle = pixel_shuffle<NC>();
  constexpr int vectors = Split ? 2 : 1;
  const int groups = (c.ksize + 3) / 4;
  const __m256i bias = _mm256_set1_epi32(1 << (c.precision - 1));
  const __m128i shift = _mm_cvtsi32_si128(c.precision);
  for (int i = 0; i < c.count; ++i) {
    const int x0 = c.xmin[i] - x_origin;
    const int used = (c.taps[i] + 3) / 4;
    if (x0 + 4 * (used - 1) + kReach<NC> > in_pixels) {
      for (int r = 0; r < 4; ++r) horizontal_scalar_pixel<NC>(rows[r], c, i, x0, outs[r]);
      continue;
    }
    const __m256i* kv = reinterpret_cast<const __m256i*>(weights + static_cast<std::size_t>(i) * groups * vectors * 16);
    __m256i acc[4];
    for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_si256();
    for (int g = 0; g < used; ++g) {
      const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(x0 + 4 * g) * NC;
      for (int r = 0; r < 4; ++r) {
        const __m256i v = _mm256_shuffle_epi8(
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r] + off))), shuffle);
        acc[r] = _mm256_add_epi32(acc[r], group_sum<Split>(v, kv + vectors * g));
      }
    }
    // [row0 | row1] and [row2 | row3]: add the two lanes of each row.
    __m256i s01 = _mm256_add_epi32(_mm256_permute2x128_si256(acc[0], acc[1], 0x20),
                                   _mm256_permute2x128_si256(acc[0], acc[1], 0x31));
    __m256i s23 = _mm256_add_epi32(_mm256_permute2x128_si256(acc[2], acc[3], 0x20),
                                   _mm256_permute2x128_si256(acc[2], acc[3], 0x31));
    s01 = _mm256_sra_epi32(_mm256_add_epi32(s01, bias), shift);
    s23 = _mm256_sra_epi32(_mm256_add_epi32(s23, bias), shift);
    const __m256i words = _mm256_packs_epi32(s01, s23);  // lane 0: row0, row2; lane 1: row1, row3
    const __m256i bytes = _mm256_packus_epi16(words, words);
    const uint32_t px[4] = {static_cast<uint32_t>(_mm256_extract_epi32(bytes, 0)),
                            static_cast<uint32_t>(_mm256_extract_epi32(bytes, 4)),
                            static_cast<uint32_t>(_mm256_extract_epi32(bytes, 1)),
                            static_cast<uint32_t>(_mm256_extract_epi32(bytes, 5))};
    for (int r = 0; r < 4; ++r) std::memcpy(outs[r] + i * NC, &px[r], NC);
  }
}

// Eight RGB rows through a staging buffer. Block P holds pixels 2P, 2P+1 of the eight rows as 24
// int32 lanes of int16 pairs, lane 3r + c = (channel c of pixel 2P, of pixel 2P + 1) of row r, so
// three 32-byte loads feed `vpmaddwd` with no shuffle per tap. The split weights accumulate apart
// (sum of pix * kh, sum of pix * kl) and meet once per output: (hi << 11) + lo. Each position's taps
// start on an even pixel (a leading zero weight when needed).
constexpr int kStagedRows = 8;
constexpr int kPairBytes = 12 * kStagedRows;

// The weights of each 2-tap pair as int16 words: exact mode splits Pillow's k = (kh << 11) + kl,
// word 0 (kh_t, kh_t+1) and word 1 (kl_t, kl_t+1); fast mode's int16 weights go whole into word 0.
// Taps are shifted by lead = (xmin - phase) % 2, zero outside the taps.
void pack_pairs(const Coeffs& c, int phase, int pairs, Avx2Layout& layout) {
  const bool split = !c.int16;
  layout.pairs.assign(static_cast<std::size_t>(c.count) * pairs * 2, 0);
  for (int i = 0; i < c.count; ++i) {
    const int32_t* k = &c.k[static_cast<std::size_t>(i) * c.ksize];
    const int lead = (c.xmin[i] - phase) & 1;
    for (int j = 0; j < pairs; ++j) {
      uint32_t kh = 0, kl = 0;
      for (int half = 0; half < 2; ++half) {
        const int t = 2 * j + half - lead;
        const int32_t w = t >= 0 && t < c.taps[i] ? k[t] : 0;
        kh |= (static_cast<uint32_t>(split ? w >> 11 : w) & 0xffffu) << (16 * half);
        kl |= static_cast<uint32_t>(split ? w & 2047 : 0) << (16 * half);
      }
      layout.pairs[(static_cast<std::size_t>(i) * pairs + j) * 2] = static_cast<int32_t>(kh);
      layout.pairs[(static_cast<std::size_t>(i) * pairs + j) * 2 + 1] = static_cast<int32_t>(kl);
    }
  }
  layout.pairs_phase = phase;
}

// Stages pairs [p_begin, p_end) into `stage`, whose block 0 is pair p_begin.
PINCLIP_AVX2 void stage_rgb8(const uint8_t* const rows[kStagedRows], int in_pixels, int p_begin, int p_end,
                             uint8_t* stage) {
  const __m128i spread = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  const int n = p_end - p_begin;
  const std::ptrdiff_t avail = static_cast<std::ptrdiff_t>(in_pixels) * 3 - static_cast<std::ptrdiff_t>(p_begin) * 6;
  const uint8_t* src[kStagedRows];  // local copies: the stores below may alias `rows`
  for (int r = 0; r < kStagedRows; ++r) src[r] = rows[r] + static_cast<std::ptrdiff_t>(p_begin) * 6;
  // Blocks in order, rows in order: a slot gets 16 bytes for its 12, the extra 4 landing in the
  // next slot, which is written after it (by this call or the next one).
  int j = 0;
  for (; j < n && 6 * static_cast<std::ptrdiff_t>(j) + 8 <= avail; ++j) {
    uint8_t* const block = stage + static_cast<std::ptrdiff_t>(j) * kPairBytes;
    for (int r = 0; r < kStagedRows; ++r) {
      const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src[r] + 6 * j));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(block + 12 * r), _mm_shuffle_epi8(raw, spread));
    }
  }
  for (; j < n; ++j) {  // the rows' end: copy what exists (zeros beyond meet zero weights)
    const std::ptrdiff_t left = avail - 6 * static_cast<std::ptrdiff_t>(j);
    for (int r = 0; r < kStagedRows; ++r) {
      uint8_t tail[16] = {};
      if (left > 0) std::memcpy(tail, src[r] + 6 * j, static_cast<std::size_t>(std::min<std::ptrdiff_t>(6, left)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(stage + static_cast<std::ptrdiff_t>(j) * kPairBytes + 12 * r),
                       _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tail)), spread));
    }
  }
}

// acc += madd(v, k). One asm statement so that GCC 12 neither re-loads `v` for each of its two
// uses (a memory operand per multiply: the loop became load-bound) nor copies the accumulator
// between registers every iteration.
PINCLIP_AVX2 inline void madd_accumulate(__m256i& acc, __m256i v, __m256i k) {
  __m256i product;
  asm("vpmaddwd %2, %3, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(product) : "x"(v), "x"(k));
}

template <bool Split>
PINCLIP_AVX2 void horizontal_rows8_rgb(const uint8_t* const rows[kStagedRows], const Coeffs& c, int x_origin,
                                       int in_pixels, uint8_t* const outs[kStagedRows]) {
  const int pairs = (c.ksize + 1 + 1) / 2;
  Avx2Layout& layout = layout_of(c);
  if (layout.pairs_phase != (x_origin & 1)) pack_pairs(c, x_origin & 1, pairs, layout);
  const int count = c.count;
  // Pairs are numbered from the row start (pixel 0 at `rows[r]`, x_origin in c's terms).
  const BlockRange range = staged_blocks(c, x_origin, 2);
  const int p_first = range.first, p_end = range.end;
  thread_local std::vector<uint8_t> stage;
  stage.resize(static_cast<std::size_t>(p_end - p_first) * kPairBytes + 16);  // + 16: the last store's tail
  // Staged a little ahead of the positions that read it, so the blocks are still in L1 when read.
  constexpr int kChunk = 32;
  int staged = p_first;

  const __m256i bias = _mm256_set1_epi32(1 << (c.precision - 1));
  const __m128i shift = _mm_cvtsi32_si128(c.precision);
  const __m256i halves = _mm256_setr_epi32(0, 4, 1, 0, 5, 2, 6, 0);
  const __m256i row_dwords = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1, 0, 1, 2, -1, 3, 4, 5,
                                              -1, 6, 7, 8, -1, 9, 10, 11, -1);
  const int* const xmin = c.xmin.data();
  const int* const taps = c.taps.data();
  const int32_t* const weights = layout.pairs.data();
  const uint8_t* const base = stage.data() - static_cast<std::ptrdiff_t>(p_first) * kPairBytes;
  uint8_t* o[kStagedRows];
  for (int r = 0; r < kStagedRows; ++r) o[r] = outs[r];
  for (int i = 0; i < count; ++i) {
    const int p = xmin[i] - x_origin;
    const int used = blocks_spanned(p, taps[i], 2);
    for (const int need = (p >> 1) + used; staged < need; staged = std::min(p_end, staged + kChunk))
      stage_rgb8(rows, in_pixels, staged, std::min(p_end, staged + kChunk),
                 stage.data() + static_cast<std::ptrdiff_t>(staged - p_first) * kPairBytes);
    const uint8_t* block = base + static_cast<std::ptrdiff_t>(p >> 1) * kPairBytes;
    const int32_t* w = weights + static_cast<std::size_t>(i) * pairs * 2;
    __m256i lo0 = bias, lo1 = bias, lo2 = bias;
    __m256i hi0 = _mm256_setzero_si256(), hi1 = _mm256_setzero_si256(), hi2 = _mm256_setzero_si256();
    for (int j = 0; j < used; ++j, w += 2, block += kPairBytes) {
      const __m256i kh = _mm256_set1_epi32(w[0]), kl = Split ? _mm256_set1_epi32(w[1]) : kh;
      const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
      const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32));
      const __m256i v2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 64));
      if (Split) {
        madd_accumulate(hi0, v0, kh);
        madd_accumulate(lo0, v0, kl);
        madd_accumulate(hi1, v1, kh);
        madd_accumulate(lo1, v1, kl);
        madd_accumulate(hi2, v2, kh);
        madd_accumulate(lo2, v2, kl);
      } else {  // fast mode: whole int16 weights, one multiply per pair
        madd_accumulate(lo0, v0, kh);
        madd_accumulate(lo1, v1, kh);
        madd_accumulate(lo2, v2, kh);
      }
    }
    if (Split) {
      lo0 = _mm256_add_epi32(lo0, _mm256_slli_epi32(hi0, 11));
      lo1 = _mm256_add_epi32(lo1, _mm256_slli_epi32(hi1, 11));
      lo2 = _mm256_add_epi32(lo2, _mm256_slli_epi32(hi2, 11));
    }
    const __m256i s0 = _mm256_sra_epi32(lo0, shift), s1 = _mm256_sra_epi32(lo1, shift), s2 = _mm256_sra_epi32(lo2, shift);
    // Saturating packs clamp like clip8. Lane order after the packs: dwords 0, 4, 1, 5, 2, 6 hold
    // bytes 0-3, 4-7, ..., 20-23 of the 24 (row r at 3r..3r+2); the dword permutation puts rows
    // 0-3 in the low half and 4-7 in the high one, the byte shuffle gives each row a dword.
    const __m256i packed = _mm256_packus_epi16(_mm256_packs_epi32(s0, s1), _mm256_packs_epi32(s2, s2));
    const __m256i rgbx = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(packed, halves), row_dwords);
    const __m128i low = _mm256_castsi256_si128(rgbx), high = _mm256_extracti128_si256(rgbx, 1);
    const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(i) * 3;
    if (i + 1 < count) {  // 4-byte stores: the 4th byte is overwritten by position i + 1
      _mm_storeu_si32(o[0] + at, low);
      store_dword(o[1] + at, _mm_extract_epi32(low, 1));
      store_dword(o[2] + at, _mm_extract_epi32(low, 2));
      store_dword(o[3] + at, _mm_extract_epi32(low, 3));
      _mm_storeu_si32(o[4] + at, high);
      store_dword(o[5] + at, _mm_extract_epi32(high, 1));
      store_dword(o[6] + at, _mm_extract_epi32(high, 2));
      store_dword(o[7] + at, _mm_extract_epi32(high, 3));
    } else {
      uint8_t px[32];
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(px), rgbx);
      for (int r = 0; r < kStagedRows; ++r) std::memcpy(o[r] + at, px + 4 * r, 3);
    }
  }
}

// One output row of the vertical pass. The weights of each pair of taps are packed once per row
// (kh pair, kl pair as int16 words; fast mode: the int16 weights in the kh slot), then broadcast
// from memory for every 16 columns.
template <bool Split>
PINCLIP_AVX2 void vertical_row(const uint8_t* base, std::ptrdiff_t stride, std::size_t width_bytes, const int32_t* k,
                               int taps, int precision, uint8_t* out) {
  const int pairs = (taps + 1) / 2;
  thread_local std::vector<int32_t> packed;
  packed.resize(static_cast<std::size_t>(pairs) * 2);
  for (int j = 0; j < pairs; ++j) {
    const int32_t k0 = k[2 * j], k1 = 2 * j + 1 < taps ? k[2 * j + 1] : 0;
    const int32_t h0 = Split ? k0 >> 11 : k0, h1 = Split ? k1 >> 11 : k1;
    packed[2 * j] = static_cast<int32_t>((static_cast<uint32_t>(h1) << 16) | (static_cast<uint32_t>(h0) & 0xffffu));
    packed[2 * j + 1] = ((k1 & 2047) << 16) | (k0 & 2047);
  }
  const int32_t* const weights = packed.data();
  const __m256i bias = _mm256_set1_epi32(1 << (precision - 1));
  const __m128i shift = _mm_cvtsi32_si128(precision);
  const __m128i zero = _mm_setzero_si128();
  std::size_t x = 0;
  for (; x + 16 <= width_bytes; x += 16) {
    // Split: the kh and kl halves accumulate apart and meet once per output, (hi << 11) + lo.
    __m256i lo_lo = bias, lo_hi = bias, hi_lo = _mm256_setzero_si256(), hi_hi = _mm256_setzero_si256();
    const uint8_t* row = base + x;
    for (int j = 0; j < pairs; ++j, row += 2 * stride) {
      const __m256i a = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row)));
      const __m256i b = _mm256_cvtepu8_epi16(
          2 * j + 1 < taps ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + stride)) : zero);
      const __m256i lo = _mm256_unpacklo_epi16(a, b);  // x 0-3, 8-11 as (row t, row t+1) pairs
      const __m256i hi = _mm256_unpackhi_epi16(a, b);  // x 4-7, 12-15
      const __m256i kh = _mm256_set1_epi32(weights[2 * j]);
      if (Split) {
        const __m256i kl = _mm256_set1_epi32(weights[2 * j + 1]);
        madd_accumulate(hi_lo, lo, kh);
        madd_accumulate(hi_hi, hi, kh);
        madd_accumulate(lo_lo, lo, kl);
        madd_accumulate(lo_hi, hi, kl);
      } else {
        madd_accumulate(lo_lo, lo, kh);
        madd_accumulate(lo_hi, hi, kh);
      }
    }
    if (Split) {
      lo_lo = _mm256_add_epi32(lo_lo, _mm256_slli_epi32(hi_lo, 11));
      lo_hi = _mm256_add_epi32(lo_hi, _mm256_slli_epi32(hi_hi, 11));
    }
    const __m256i s_lo = _mm256_sra_epi32(lo_lo, shift);
    const __m256i s_hi = _mm256_sra_epi32(lo_hi, shift);
    // Saturating packs clamp to [0, 255] exactly like clip8; the lane order comes back to x 0..15.
    const __m256i words = _mm256_packs_epi32(s_lo, s_hi);
    const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(words, words), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), _mm256_castsi256_si128(bytes));
  }
  for (; x < width_bytes; ++x) {
    int32_t ss = 1 << (precision - 1);
    for (int t = 0; t < taps; ++t) ss += base[t * stride + x] * k[t];
    out[x] = clip8(ss, precision);
  }
}

}  // namespace

void horizontal_avx2(const uint8_t* row, std::ptrdiff_t pixel_stride, int nc, const Coeffs& c, int x_origin,
                     int in_pixels, uint8_t* out) {
  if ((nc != 3 && nc != 4) || pixel_stride != nc) {
    resample_row_horizontal(row, pixel_stride, nc, c, x_origin, in_pixels, out);
    return;
  }
  const int16_t* weights = shuffle_weights(c, nc);
  const bool split = !fits_int16(c);
  if (nc == 3) {
    split ? horizontal_row<3, true>(row, c, weights, x_origin, in_pixels, out)
          : horizontal_row<3, false>(row, c, weights, x_origin, in_pixels, out);
  } else {
    split ? horizontal_row<4, true>(row, c, weights, x_origin, in_pixels, out)
          : horizontal_row<4, false>(row, c, weights, x_origin, in_pixels, out);
  }
}

void horizontal8_avx2(const uint8_t* const* rows, std::ptrdiff_t pixel_stride, int nc, const Coeffs& c, int x_origin,
                      int in_pixels, uint8_t* const* outs) {
  if ((nc != 3 && nc != 4) || pixel_stride != nc) {
    for (int r = 0; r < 8; ++r) resample_row_horizontal(rows[r], pixel_stride, nc, c, x_origin, in_pixels, outs[r]);
    return;
  }
  if (nc == 3) {
    fits_int16(c) ? horizontal_rows8_rgb<false>(rows, c, x_origin, in_pixels, outs)
                  : horizontal_rows8_rgb<true>(rows, c, x_origin, in_pixels, outs);
    return;
  }
  const int16_t* weights = shuffle_weights(c, nc);
  for (int half = 0; half < 8; half += 4) {  // RGBA: two blocks of four rows
    fits_int16(c) ? horizontal_rows4<4, false>(rows + half, c, weights, x_origin, in_pixels, outs + half)
                  : horizontal_rows4<4, true>(rows + half, c, weights, x_origin, in_pixels, outs + half);
  }
}

// Eight pixels per step: two byte shuffles pick channel c's eight bytes out of the 24, which index
// an 8-wide gather from its table (the same floats as the scalar lookups, so bit-identical).
PINCLIP_AVX2 void planes_f32_avx2(const uint8_t* rgb, int width, const float* const lut[3], float* const out[3]) {
  const __m128i low[3] = {_mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
                          _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
                          _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)};
  const __m128i high[3] = {_mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, -1, -1, -1, -1, -1, -1, -1, -1),
                           _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, -1, -1, -1, -1, -1, -1, -1, -1),
                           _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, -1, -1, -1, -1, -1, -1, -1, -1)};
  int x = 0;
  for (; x + 8 <= width; x += 8) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rgb + 3 * x));       // bytes 0-15
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rgb + 3 * x + 16));  // bytes 16-23
    for (int c = 0; c < 3; ++c) {
      const __m128i index = _mm_or_si128(_mm_shuffle_epi8(a, low[c]), _mm_shuffle_epi8(b, high[c]));
      _mm256_storeu_ps(out[c] + x, _mm256_i32gather_ps(lut[c], _mm256_cvtepu8_epi32(index), 4));
    }
  }
  for (; x < width; ++x)
    for (int c = 0; c < 3; ++c) out[c][x] = lut[c][rgb[3 * x + c]];
}

void vertical_avx2(const uint8_t* band, std::ptrdiff_t band_stride, int band_first, std::size_t width_bytes,
                   const Coeffs& c, int index, uint8_t* out) {
  const int32_t* k = &c.k[static_cast<std::size_t>(index) * c.ksize];
  const uint8_t* base = band + static_cast<std::ptrdiff_t>(c.xmin[index] - band_first) * band_stride;
  if (fits_int16(c)) {
    vertical_row<false>(base, band_stride, width_bytes, k, c.taps[index], c.precision, out);
  } else {
    vertical_row<true>(base, band_stride, width_bytes, k, c.taps[index], c.precision, out);
  }
}

}  // namespace pinclip

#endif  // PINCLIP_HAVE_AVX2
