// AVX-512 VNNI versions of the multi-row horizontal pass and the vertical pass, bit-identical to
// the scalar ones.
//
// `vpdpbusd` adds four unsigned-byte x signed-byte products to each int32 lane in one instruction,
// exactly (no saturation). Each Q22 weight is written in three signed byte digits,
// k = d0 + 256 * d1 + 65536 * d2 (d0, d1 in [-128, 127], |d2| <= 64 for |k| <= 2^22); one
// accumulator per digit gives sum(pix * d), and sum0 + (sum1 << 8) + (sum2 << 16) is Pillow's int32
// total: every step is modulo 2^32 and Pillow's own total never overflows, so the result is the
// same integer whatever the order of the additions. Pixels need no widening to int16, which is
// what the AVX2 kernels spend most of their shuffles and multiplies on.
//
// Horizontal (rows sharing the weights): each int32 lane holds four consecutive pixels of one
// channel of one row, so one `vpdpbusd` per digit handles 4 taps of every lane and the lanes never
// need adding together. RGB: five rows staged per 4-pixel block (15 lanes); RGBA: four rows, one
// per 128-bit block, gathered by a byte shuffle (16 lanes).
// Vertical: four source rows are byte-interleaved so that each int32 lane holds one column's four
// taps; 64 columns per step, masked loads and stores for the tail.
//
// Compiled per function (target attributes), chosen at run time by select_kernels().
#include "resample.h"

#if defined(PINCLIP_HAVE_AVX2)

// GCC 12's AVX-512 headers initialise `_mm512_undefined_*` from itself, which -Wuninitialized
// reports at every inlined intrinsic (GCC bug 105593); the values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace pinclip {
namespace {

#define PINCLIP_AVX512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

// The three signed byte digits of k: k == d[0] + 256 * d[1] + 65536 * d[2].
void byte_digits(int32_t k, int8_t d[3]) {
  d[0] = static_cast<int8_t>(static_cast<uint8_t>(k & 0xff));
  const int32_t r1 = (k - d[0]) / 256;  // exact: k - d[0] is a multiple of 256
  d[1] = static_cast<int8_t>(static_cast<uint8_t>(r1 & 0xff));
  d[2] = static_cast<int8_t>((r1 - d[1]) / 256);  // |k| <= 2^22 keeps this within [-64, 64]
}

// A table's weights as byte digits, for one phase (see pack_digits).
struct Digits {
  int phase = -2;               // the phase they were packed for (-2: not built)
  LayoutVector<int32_t> words;  // per position, `groups` x 3 words
  bool top = true;              // some weight needs the third digit
};

// This file's layout of a table's weights, kept in Coeffs::layouts so that it is packed once per
// table: the digits without lead (vertical pass, RGBA rows) and those aligned to the phase of
// x_origin for the staged RGB rows (rebuilt when asked for another phase).
struct VnniLayout final : KernelLayout {
  Digits plain;
  Digits aligned;
};

// Packs, per output position and 4-tap group, three int32 words: byte j of word d is digit d of
// tap 4g + j - lead (zero outside the taps), ready to broadcast against four pixels of one channel.
// `phase` < 0: no lead (vertical pass); otherwise lead = (xmin - phase) % 4, which makes each
// position's first group start on a pixel multiple of 4 (relative to an origin with that phase).
void pack_digits(const Coeffs& c, int phase, int groups, Digits& digits) {
  LayoutVector<int32_t>& out = digits.words;
  out.assign(static_cast<std::size_t>(c.count) * groups * 3, 0);
  bool top = false;
  for (int i = 0; i < c.count; ++i) {
    const int32_t* k = &c.k[static_cast<std::size_t>(i) * c.ksize];
    const int lead = phase < 0 ? 0 : (c.xmin[i] - phase) & 3;
    for (int g = 0; g < groups; ++g) {
      uint8_t bytes[3][4] = {};
      for (int j = 0; j < 4; ++j) {
        const int t = 4 * g + j - lead;
        int8_t d[3] = {0, 0, 0};
        if (t >= 0 && t < c.taps[i]) byte_digits(k[t], d);
        for (int digit = 0; digit < 3; ++digit) bytes[digit][j] = static_cast<uint8_t>(d[digit]);
        top = top || d[2] != 0;
      }
      std::memcpy(&out[(static_cast<std::size_t>(i) * groups + g) * 3], bytes, sizeof bytes);
    }
  }
  // Fast mode's int16 weights (and tiny exact ones) need only two digits: a third of the products.
  digits.top = top;
  digits.phase = phase;
}

int vertical_groups(const Coeffs& c) { return (c.ksize + 3) / 4; }
int aligned_groups(const Coeffs& c) { return (c.ksize + 3 + 3) / 4; }

// The digits of `c` without lead, packed on first use.
const Digits& plain_digits(const Coeffs& c) {
  Digits& d = c.layouts.get<VnniLayout>().plain;
  if (d.phase != -1) pack_digits(c, -1, vertical_groups(c), d);
  return d;
}

// The digits of `c` aligned for an origin of phase x_origin % 4, packed on first use.
const Digits& aligned_digits(const Coeffs& c, int x_origin) {
  Digits& d = c.layouts.get<VnniLayout>().aligned;
  if (d.phase != (x_origin & 3)) pack_digits(c, x_origin & 3, aligned_groups(c), d);
  return d;
}

// sum0 + (sum1 << 8) + (sum2 << 16) shifted like Pillow (sum0 started at the rounding bias) and
// clamped at 0; the unsigned saturating narrow that follows clamps at 255.
PINCLIP_AVX512 inline __m512i finish(__m512i a0, __m512i a1, __m512i a2, __m128i shift) {
  const __m512i sum = _mm512_add_epi32(a0, _mm512_add_epi32(_mm512_slli_epi32(a1, 8), _mm512_slli_epi32(a2, 16)));
  return _mm512_max_epi32(_mm512_sra_epi32(sum, shift), _mm512_setzero_si512());
}

// acc += the four u8 x s8 products of each int32 lane, the s8 weights being the word at `weights`
// broadcast to all lanes. The broadcast is embedded in the instruction: GCC 12 does not fold
// `_mm512_set1_epi32(*p)` into `vpdpbusd`, and the separate broadcast load costs ~15% here.
PINCLIP_AVX512 inline __m512i dot_broadcast(__m512i acc, __m512i pixels, const int32_t* weights) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(pixels), "m"(*weights));
  return acc;
}

// RGBA: four rows sharing the weights, one per 128-bit block; a byte shuffle gathers channel c of
// four consecutive pixels into int32 lane c (all 16 lanes busy, so no staging is needed).
PINCLIP_AVX512 void horizontal_rows4_rgba(const uint8_t* const rows[4], const Coeffs& c, const int32_t* digits,
                                          int x_origin, int in_pixels, uint8_t* const outs[4]) {
  const __m512i gather =
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  const int groups = vertical_groups(c);  // plain digits: no lead
  const __m512i bias = _mm512_set1_epi32(1 << (c.precision - 1));
  const __m128i shift = _mm_cvtsi32_si128(c.precision);
  for (int i = 0; i < c.count; ++i) {
    const int x0 = c.xmin[i] - x_origin;
    const int used = (c.taps[i] + 3) / 4;
    if (x0 + 4 * used > in_pixels) {  // the row's end: the last group's 16-byte load would over-read
      for (int r = 0; r < 4; ++r) {
        const int32_t* k = &c.k[static_cast<std::size_t>(i) * c.ksize];
        for (int ch = 0; ch < 4; ++ch) {
          int32_t ss = 1 << (c.precision - 1);
          for (int t = 0; t < c.taps[i]; ++t) ss += rows[r][(x0 + t) * 4 + ch] * k[t];
          outs[r][i * 4 + ch] = clip8(ss, c.precision);
        }
      }
      continue;
    }
    const int32_t* w = digits + static_cast<std::size_t>(i) * groups * 3;
    __m512i a0 = bias, a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512();
    for (int g = 0; g < used; ++g, w += 3) {
      const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(x0 + 4 * g) * 4;
      __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[0] + off)));
      v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[1] + off)), 1);
      v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[2] + off)), 2);
      v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[3] + off)), 3);
      v = _mm512_shuffle_epi8(v, gather);
      a0 = dot_broadcast(a0, v, w);
      a1 = dot_broadcast(a1, v, w + 1);
      a2 = dot_broadcast(a2, v, w + 2);
    }
    alignas(16) uint8_t px[16];  // row r: bytes 4r..4r+3
    _mm_store_si128(reinterpret_cast<__m128i*>(px), _mm512_cvtusepi32_epi8(finish(a0, a1, a2, shift)));
    for (int r = 0; r < 4; ++r) std::memcpy(outs[r] + static_cast<std::ptrdiff_t>(i) * 4, px + 4 * r, 4);
  }
}

// Five RGB rows sharing the weights, through a staging buffer. Block q of the buffer holds pixels
// 4q..4q+3 of the five rows as 15 int32 lanes, lane 3r + c = channel c of row r's four pixels, so
// one 64-byte load feeds `vpdpbusd` directly: no per-group inserts or shuffles, 15 of 16 lanes busy.
// Each position's taps start on a block boundary (its weights get up to three leading zeros), which
// costs at most one extra group and is far cheaper than building vectors at arbitrary offsets.
constexpr int kStagedRows = 5;
constexpr int kBlockBytes = 12 * kStagedRows;

// Stages blocks [q_begin, q_end) into `stage`, whose block 0 is q_begin.
PINCLIP_AVX512 void stage_rgb5(const uint8_t* const rows[kStagedRows], int in_pixels, int q_begin, int q_end,
                               uint8_t* stage) {
  const __m128i gather = _mm_setr_epi8(0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11, -1, -1, -1, -1);
  const std::ptrdiff_t row_bytes = static_cast<std::ptrdiff_t>(in_pixels) * 3;
  const uint8_t* src[kStagedRows];  // local copies: the stores below may alias `rows`
  for (int r = 0; r < kStagedRows; ++r) src[r] = rows[r];
  for (int q = q_begin; q < q_end; ++q) {
    const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(q) * 12;
    uint8_t* block = stage + static_cast<std::ptrdiff_t>(q - q_begin) * kBlockBytes;
    const bool inside = at + 16 <= row_bytes;
    // Near the row's end, a masked load reads only the row's bytes (zeros beyond, zero weights).
    const __mmask16 mask = inside ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (row_bytes - at)) - 1);
    for (int r = 0; r < kStagedRows; ++r) {
      const __m128i raw = inside ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[r] + at))
                                 : _mm_maskz_loadu_epi8(mask, src[r] + at);
      // 16 bytes stored, 12 meant: the extra 4 land in the next slot, written after this one.
      _mm_storeu_si128(reinterpret_cast<__m128i*>(block + 12 * r), _mm_shuffle_epi8(raw, gather));
    }
  }
}

template <bool Top>
PINCLIP_AVX512 void horizontal_rows5_rgb(const uint8_t* const rows[kStagedRows], const Coeffs& c,
                                         const int32_t* digits, int x_origin, int in_pixels,
                                         uint8_t* const outs[kStagedRows]) {
  const int groups = aligned_groups(c);  // `digits` aligned for this x_origin's phase
  const int count = c.count;
  // Blocks are numbered from the row start (pixel 0 at `rows[r]`), which is x_origin in c's terms.
  const BlockRange range = staged_blocks(c, x_origin, 4);
  const int q_first = range.first, q_end = range.end;
  thread_local std::vector<uint8_t> stage;
  stage.resize(static_cast<std::size_t>(q_end - q_first) * kBlockBytes + 64);  // + 64: the last load's tail
  // Staged a little ahead of the positions that read it, so the blocks are still in L1 when read.
  constexpr int kChunk = 32;
  int staged = q_first;

  const __m512i bias = _mm512_set1_epi32(1 << (c.precision - 1));
  const __m128i shift = _mm_cvtsi32_si128(c.precision);
  const __m128i row_dwords = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  uint8_t *const o0 = outs[0], *const o1 = outs[1], *const o2 = outs[2], *const o3 = outs[3], *const o4 = outs[4];
  const int* const xmin = c.xmin.data();
  const int* const taps = c.taps.data();
  const uint8_t* const base = stage.data() - static_cast<std::ptrdiff_t>(q_first) * kBlockBytes;
  for (int i = 0; i < count; ++i) {
    const int p = xmin[i] - x_origin;
    const int used = blocks_spanned(p, taps[i], 4);
    for (const int need = (p >> 2) + used; staged < need; staged = std::min(q_end, staged + kChunk))
      stage_rgb5(rows, in_pixels, staged, std::min(q_end, staged + kChunk),
                 stage.data() + static_cast<std::ptrdiff_t>(staged - q_first) * kBlockBytes);
    const uint8_t* block = base + static_cast<std::ptrdiff_t>(p >> 2) * kBlockBytes;
    const int32_t* w = digits + static_cast<std::size_t>(i) * groups * 3;
    __m512i a0 = bias, a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512();
    for (int g = 0; g < used; ++g, w += 3, block += kBlockBytes) {
      const __m512i v = _mm512_loadu_si512(block);
      a0 = dot_broadcast(a0, v, w);
      a1 = dot_broadcast(a1, v, w + 1);
      if (Top) a2 = dot_broadcast(a2, v, w + 2);
    }
    const __m128i px = _mm512_cvtusepi32_epi8(finish(a0, a1, a2, shift));  // row r: bytes 3r..3r+2
    const __m128i rgbx = _mm_shuffle_epi8(px, row_dwords);                   // rows 0-3: a dword each
    const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(i) * 3;
    if (i + 1 < count) {  // 4-byte stores: the 4th byte is overwritten by position i + 1
      _mm_storeu_si32(o0 + at, rgbx);
      store_dword(o1 + at, _mm_extract_epi32(rgbx, 1));
      store_dword(o2 + at, _mm_extract_epi32(rgbx, 2));
      store_dword(o3 + at, _mm_extract_epi32(rgbx, 3));
      store_dword(o4 + at, _mm_extract_epi32(px, 3));  // row 4: bytes 12-14
    } else {
      uint8_t bytes[16];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(bytes), px);
      for (int r = 0; r < kStagedRows; ++r) std::memcpy(outs[r] + at, bytes + 3 * r, 3);
    }
  }
}

// One output row of the vertical pass: `taps` rows `stride` apart from `base`, `width` bytes.
template <bool Top>
PINCLIP_AVX512 void vertical_row(const uint8_t* base, std::ptrdiff_t stride, std::size_t width, const int32_t* digits,
                                 int taps, int precision, uint8_t* out) {
  const __m512i bias = _mm512_set1_epi32(1 << (precision - 1));
  const __m128i shift = _mm_cvtsi32_si128(precision);
  // After the two interleave steps, vector q holds columns 4q..4q+3 of each 16-column block; this
  // puts the narrowed bytes back in column order.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const int quads = (taps + 3) / 4;
  for (std::size_t x = 0; x < width; x += 64) {
    const std::size_t n = width - x < 64 ? width - x : 64;
    const __mmask64 mask = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
    __m512i acc[4][3];
    for (auto& q : acc) {
      q[0] = bias;
      q[1] = q[2] = _mm512_setzero_si512();
    }
    for (int qd = 0; qd < quads; ++qd) {
      __m512i r[4];
      for (int j = 0; j < 4; ++j) {
        // Rows past `taps` have zero weight; read a valid row instead of past the band.
        const int t = 4 * qd + j < taps ? 4 * qd + j : taps - 1;
        r[j] = _mm512_maskz_loadu_epi8(mask, base + t * stride + x);
      }
      const __m512i lo01 = _mm512_unpacklo_epi8(r[0], r[1]), hi01 = _mm512_unpackhi_epi8(r[0], r[1]);
      const __m512i lo23 = _mm512_unpacklo_epi8(r[2], r[3]), hi23 = _mm512_unpackhi_epi8(r[2], r[3]);
      const __m512i v[4] = {_mm512_unpacklo_epi16(lo01, lo23), _mm512_unpackhi_epi16(lo01, lo23),
                            _mm512_unpacklo_epi16(hi01, hi23), _mm512_unpackhi_epi16(hi01, hi23)};
      const int32_t* w = digits + 3 * qd;
      for (int q = 0; q < 4; ++q) {
        acc[q][0] = dot_broadcast(acc[q][0], v[q], w);
        acc[q][1] = dot_broadcast(acc[q][1], v[q], w + 1);
        if (Top) acc[q][2] = dot_broadcast(acc[q][2], v[q], w + 2);
      }
    }
    __m512i bytes = _mm512_castsi128_si512(_mm512_cvtusepi32_epi8(finish(acc[0][0], acc[0][1], acc[0][2], shift)));
    bytes = _mm512_inserti32x4(bytes, _mm512_cvtusepi32_epi8(finish(acc[1][0], acc[1][1], acc[1][2], shift)), 1);
    bytes = _mm512_inserti32x4(bytes, _mm512_cvtusepi32_epi8(finish(acc[2][0], acc[2][1], acc[2][2], shift)), 2);
    bytes = _mm512_inserti32x4(bytes, _mm512_cvtusepi32_epi8(finish(acc[3][0], acc[3][1], acc[3][2], shift)), 3);
    _mm512_mask_storeu_epi8(out + x, mask, _mm512_permutexvar_epi32(order, bytes));
  }
}

}  // namespace

void horizontal_avx2(const uint8_t*, std::ptrdiff_t, int, const Coeffs&, int, int, uint8_t*);

void horizontal5_avx512vnni(const uint8_t* const* rows, std::ptrdiff_t pixel_stride, int nc, const Coeffs& c,
                            int x_origin, int in_pixels, uint8_t* const* outs) {
  if ((nc != 3 && nc != 4) || pixel_stride != nc) {
    for (int r = 0; r < 5; ++r) resample_row_horizontal(rows[r], pixel_stride, nc, c, x_origin, in_pixels, outs[r]);
    return;
  }
  if (nc == 3) {
    const Digits& d = aligned_digits(c, x_origin);
    d.top ? horizontal_rows5_rgb<true>(rows, c, d.words.data(), x_origin, in_pixels, outs)
          : horizontal_rows5_rgb<false>(rows, c, d.words.data(), x_origin, in_pixels, outs);
    return;
  }
  // RGBA fills all 16 lanes with four rows; the fifth goes through the one-row kernel.
  horizontal_rows4_rgba(rows, c, plain_digits(c).words.data(), x_origin, in_pixels, outs);
  horizontal_avx2(rows[4], pixel_stride, nc, c, x_origin, in_pixels, outs[4]);
}

void vertical_avx512vnni(const uint8_t* band, std::ptrdiff_t band_stride, int band_first, std::size_t width_bytes,
                         const Coeffs& c, int index, uint8_t* out) {
  const Digits& d = plain_digits(c);
  const int groups = vertical_groups(c);
  const uint8_t* base = band + static_cast<std::ptrdiff_t>(c.xmin[index] - band_first) * band_stride;
  const int32_t* digits = d.words.data() + static_cast<std::size_t>(index) * groups * 3;
  d.top ? vertical_row<true>(base, band_stride, width_bytes, digits, c.taps[index], c.precision, out)
        : vertical_row<false>(base, band_stride, width_bytes, digits, c.taps[index], c.precision, out);
}

}  // namespace pinclip

#endif  // PINCLIP_HAVE_AVX2
