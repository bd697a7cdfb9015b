#include "pipeline.h"

#include <algorithm>
#include <stdexcept>

namespace pinclip {

int layout_channels(Layout layout) {
  switch (layout) {
    case Layout::Gray: return 1;
    case Layout::RGB:
    case Layout::BGR: return 3;
    case Layout::RGBA:
    case Layout::BGRA:
    case Layout::CMYK: return 4;
  }
  return 0;
}

namespace {

// Pillow's MULDIV255: (a * b + 128) / 255 rounded, without a division.
inline uint32_t muldiv255(uint32_t a, uint32_t b) {
  const uint32_t t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// Pillow `rgbA2rgba`: alpha 0 and 255 leave the colour as is, otherwise 255 * c / alpha, clipped.
inline uint8_t unpremultiply(uint32_t c, uint32_t alpha) {
  if (alpha == 0 || alpha == 255) return static_cast<uint8_t>(c);
  const uint32_t v = 255 * c / alpha;
  return static_cast<uint8_t>(v > 255 ? 255 : v);
}

bool is_alpha_layout(Layout l) { return l == Layout::RGBA || l == Layout::BGRA; }

// Converts `n` resampled pixels (nc channels each) to RGB.
void to_rgb(const uint8_t* in, int n, Layout layout, bool premultiplied, uint8_t* rgb) {
  switch (layout) {
    case Layout::Gray:
      for (int i = 0; i < n; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = in[i];
      break;
    case Layout::RGB: std::copy(in, in + 3 * n, rgb); break;
    case Layout::BGR:
      for (int i = 0; i < n; ++i) {
        rgb[3 * i] = in[3 * i + 2];
        rgb[3 * i + 1] = in[3 * i + 1];
        rgb[3 * i + 2] = in[3 * i];
      }
      break;
    case Layout::RGBA:
    case Layout::BGRA: {
      const int r = layout == Layout::RGBA ? 0 : 2;
      for (int i = 0; i < n; ++i) {
        const uint8_t* p = in + 4 * i;
        const uint32_t a = p[3];
        rgb[3 * i] = premultiplied ? unpremultiply(p[r], a) : p[r];
        rgb[3 * i + 1] = premultiplied ? unpremultiply(p[1], a) : p[1];
        rgb[3 * i + 2] = premultiplied ? unpremultiply(p[2 - r], a) : p[2 - r];
      }
      break;
    }
    case Layout::CMYK:
      for (int i = 0; i < n; ++i) {
        const uint8_t* p = in + 4 * i;
        const uint32_t nk = 255u - p[3];
        for (int c = 0; c < 3; ++c) rgb[3 * i + c] = static_cast<uint8_t>(nk - muldiv255(p[c], nk));
      }
      break;
  }
}

// Copies source pixels [x0, x1) of one row into `stage` (pixel x_origin at stage[0]) with contiguous
// channels, premultiplying alpha like Pillow's `rgba2rgbA` when asked.
void stage_row(const ImageView& img, int64_t y, int64_t x0, int64_t x1, int nc, bool premultiply, uint8_t* stage,
               int64_t x_origin) {
  const uint8_t* row = img.data + y * img.row_stride;
  for (int64_t x = x0; x < x1; ++x) {
    const uint8_t* p = row + x * img.pixel_stride;
    uint8_t* q = stage + (x - x_origin) * nc;
    for (int c = 0; c < nc; ++c) q[c] = p[c * img.channel_stride];
    if (premultiply) {
      const uint32_t a = q[3];
      for (int c = 0; c < 3; ++c) q[c] = static_cast<uint8_t>(muldiv255(q[c], a));
    }
  }
}

struct Window {
  int v0 = 0;  // first output index that maps inside the resized image
  int v1 = 0;  // one past the last
};

Window valid_window(int64_t resize, int64_t offset, int out, int begin, int end) {
  const int64_t lo = std::max<int64_t>({-offset, 0, begin});
  const int64_t hi = std::min<int64_t>({resize - offset, out, end});
  Window w;
  w.v0 = static_cast<int>(std::min<int64_t>(lo, end));
  w.v1 = static_cast<int>(std::max<int64_t>(hi, w.v0));
  return w;
}

// Pillow 13's pass order (python-pillow/Pillow#9549, matched exhaustively against the installed
// Pillow): vertical first when the height is reduced and by more than twice the width reduction.
bool vertical_first(int64_t w, int64_t h, int64_t out_w, int64_t out_h) {
  return out_h < h && (h - out_h) > 2 * (w - out_w);
}

Coeffs axis_coeffs(int64_t in, int64_t resize, Filter f, int64_t first, int count, bool fast) {
  if (resize == in) return identity_coeffs(first, count);
  Coeffs c = compute_coeffs(in, resize, f, first, count);
  if (fast) quantize_int16(c);
  return c;
}

// The tables depend only on (in, resize, filter, first, count, fast): a camera stream or a batch of
// same-sized photos asks for the same two every frame, and building them (plus their SIMD packing)
// costs about 5% of a 1080p frame. Each thread keeps its last few; the kernels pack their layouts
// into Coeffs::layouts on first use, so an entry, layouts included, is only ever touched by its own
// thread. Huge tables are not kept.
class CoeffsCache {
 public:
  const Coeffs& get(int64_t in, int64_t resize, Filter f, int64_t first, int count, bool fast) {
    const Key key{in, resize, first, count, f, fast};
    ++clock_;
    Entry* oldest = &entries_[0];
    for (Entry& e : entries_) {
      if (e.used != 0 && e.key == key) {
        e.used = clock_;
        return e.coeffs;
      }
      if (e.used < oldest->used) oldest = &e;
    }
    Coeffs c = axis_coeffs(in, resize, f, first, count, fast);
    if (c.k.size() > kMaxKeptTaps) {  // alternate two slots: a call's two tables both stay valid
      scratch_turn_ ^= 1;
      scratch_[scratch_turn_] = std::move(c);
      return scratch_[scratch_turn_];
    }
    oldest->key = key;
    oldest->used = clock_;
    oldest->coeffs = std::move(c);
    return oldest->coeffs;
  }

 private:
  struct Key {
    int64_t in, resize, first;
    int count;
    Filter filter;
    bool fast;
    bool operator==(const Key& o) const {
      return in == o.in && resize == o.resize && first == o.first && count == o.count && filter == o.filter &&
             fast == o.fast;
    }
  };
  struct Entry {
    Key key{};
    uint64_t used = 0;  // 0: empty
    Coeffs coeffs;
  };
  static constexpr std::size_t kMaxKeptTaps = std::size_t{1} << 18;  // 1 MiB of weights
  // Four entries: a call takes two (one per axis), so the second never evicts the first.
  Entry entries_[4];
  Coeffs scratch_[2];  // uncached tables
  int scratch_turn_ = 0;
  uint64_t clock_ = 0;
};

const Coeffs& cached_coeffs(int64_t in, int64_t resize, Filter f, int64_t first, int count, bool fast) {
  thread_local CoeffsCache cache;
  return cache.get(in, resize, f, first, count, fast);
}

// Fast mode uses int16 weights only when both axes shrink at least 2x (weights <= ~0.5 keep ~15
// fractional bits; that is the expensive case anyway). Upscaled axes would amplify a one-level
// difference of the intermediate through the filter's overshoot, and un-premultiplying by a small
// alpha would magnify it, so those stay exact: measured within one level (tests/core/test_fast.py).
bool use_fast(const ImageView& img, const Plan& plan) {
  return plan.fast && !is_alpha_layout(img.layout) && img.width >= 2 * plan.resize_w &&
         img.height >= 2 * plan.resize_h;
}

// Runs the two passes for output rows [row_begin, row_end) and hands each finished RGB row to `sink`.
template <class Sink>
void run_rows(const ImageView& img, const Plan& plan, const uint8_t fill_rgb[3], const Kernels& kernels,
              int row_begin, int row_end, Scratch& s, Sink&& sink) {
  const int nc = layout_channels(img.layout);
  const bool resizing = plan.resize_w != img.width || plan.resize_h != img.height;
  const bool premultiply = resizing && is_alpha_layout(img.layout);
  const bool direct = img.channel_stride == 1 && !premultiply;  // H-first reads rows in place
  const Window wx = valid_window(plan.resize_w, plan.left, plan.out_w, 0, plan.out_w);
  const Window wy = valid_window(plan.resize_h, plan.top, plan.out_h, row_begin, row_end);
  const int cw = wx.v1 - wx.v0;
  const int chh = wy.v1 - wy.v0;

  std::vector<uint8_t>& rgb = s.row;
  rgb.resize(static_cast<std::size_t>(plan.out_w) * 3 + static_cast<std::size_t>(cw) * nc);
  uint8_t* resampled = rgb.data() + static_cast<std::size_t>(plan.out_w) * 3;
  auto fill_pixels = [&](int x0, int x1) {
    for (int x = x0; x < x1; ++x)
      for (int c = 0; c < 3; ++c) rgb[3 * x + c] = fill_rgb[c];
  };
  if (cw == 0 || chh == 0) {
    fill_pixels(0, plan.out_w);
    for (int y = row_begin; y < row_end; ++y) sink(y, rgb.data());
    return;
  }

  const bool fast = use_fast(img, plan);
  const Coeffs& hc = cached_coeffs(img.width, plan.resize_w, plan.filter, wx.v0 + plan.left, cw, fast);
  const Coeffs& vc = cached_coeffs(img.height, plan.resize_h, plan.filter, wy.v0 + plan.top, chh, fast);
  const int y_first = vc.xmin[0];
  const int y_last = vc.xmin[chh - 1] + vc.taps[chh - 1];
  const int x_first = hc.xmin[0];
  const int x_last = hc.xmin[cw - 1] + hc.taps[cw - 1];

  std::vector<uint8_t> pad_row;
  if (wy.v0 > row_begin || wy.v1 < row_end) {
    pad_row.resize(static_cast<std::size_t>(plan.out_w) * 3);
    for (int x = 0; x < plan.out_w; ++x) std::copy(fill_rgb, fill_rgb + 3, &pad_row[3 * x]);
  }
  fill_pixels(0, wx.v0);
  fill_pixels(wx.v1, plan.out_w);
  auto emit = [&](int y, const uint8_t* pixels) {
    to_rgb(pixels, cw, img.layout, premultiply, rgb.data() + 3 * wx.v0);
    sink(y, rgb.data());
  };
  for (int y = row_begin; y < wy.v0; ++y) sink(y, pad_row.data());

  if (vertical_first(img.width, img.height, plan.resize_w, plan.resize_h)) {
    // Pillow >= 13 runs the vertical pass first when the height shrinks much more than the width:
    // the uint8 intermediate is then oh x w, which changes the rounding, so we follow its choice.
    const std::size_t span = static_cast<std::size_t>(x_last - x_first) * nc;
    const uint8_t* src;
    std::ptrdiff_t src_stride;
    int src_first;
    if (img.channel_stride == 1 && img.pixel_stride == nc && !premultiply) {
      src = img.data + static_cast<std::ptrdiff_t>(x_first) * nc;  // read the image in place
      src_stride = img.row_stride;
      src_first = 0;
    } else {
      s.band.resize(span * static_cast<std::size_t>(y_last - y_first));
      for (int y = y_first; y < y_last; ++y)
        stage_row(img, y, x_first, x_last, nc, premultiply, s.band.data() + span * (y - y_first), x_first);
      src = s.band.data();
      src_stride = static_cast<std::ptrdiff_t>(span);
      src_first = y_first;
    }
    s.stage.resize(span);
    for (int y = wy.v0; y < wy.v1; ++y) {
      kernels.vertical(src, src_stride, src_first, span, vc, y - wy.v0, s.stage.data());
      kernels.horizontal(s.stage.data(), nc, nc, hc, x_first, x_last - x_first, resampled);
      emit(y, resampled);
    }
  } else {
    const std::size_t band_w = static_cast<std::size_t>(cw) * nc;
    s.band.resize(band_w * static_cast<std::size_t>(y_last - y_first));
    if (!direct) s.stage.resize(static_cast<std::size_t>(x_last - x_first) * nc);
    // The horizontal pass runs just ahead of the vertical one (whole blocks of rows while they fit),
    // so the rows each vertical output reads were written moments before and are still in cache.
    int done = y_first;  // band rows [y_first, done) are resampled
    const int block = kernels.block_rows;
    const uint8_t* rows[8];
    uint8_t* dsts[8];
    auto produce = [&](int upto) {
      for (; done < upto; ) {
        if (direct && done + block <= y_last) {
          for (int r = 0; r < block; ++r) {
            rows[r] = img.data + static_cast<std::ptrdiff_t>(done + r) * img.row_stride;
            dsts[r] = s.band.data() + band_w * static_cast<std::size_t>(done + r - y_first);
          }
          kernels.horizontal_block(rows, img.pixel_stride, nc, hc, 0, static_cast<int>(img.width), dsts);
          done += block;
          continue;
        }
        uint8_t* dst = s.band.data() + band_w * static_cast<std::size_t>(done - y_first);
        if (direct) {
          kernels.horizontal(img.data + static_cast<std::ptrdiff_t>(done) * img.row_stride, img.pixel_stride, nc, hc,
                             0, static_cast<int>(img.width), dst);
        } else {
          stage_row(img, done, x_first, x_last, nc, premultiply, s.stage.data(), x_first);
          kernels.horizontal(s.stage.data(), nc, nc, hc, x_first, x_last - x_first, dst);
        }
        ++done;
      }
    };
    for (int y = wy.v0; y < wy.v1; ++y) {
      const int i = y - wy.v0;
      produce(vc.xmin[i] + vc.taps[i]);
      kernels.vertical(s.band.data(), static_cast<std::ptrdiff_t>(band_w), y_first, band_w, vc, i, resampled);
      emit(y, resampled);
    }
  }
  for (int y = std::max(wy.v1, row_begin); y < row_end; ++y) sink(y, pad_row.data());
}

}  // namespace

void store_rgb_row(const uint8_t* rgb, int y, int out_w, int out_h, const Tables& tables, const Kernels& kernels,
                   OutputPlanes out) {
  const std::size_t plane = static_cast<std::size_t>(out_h) * out_w;
  const std::size_t at = static_cast<std::size_t>(y) * out_w;
  if (out.half) {
    uint16_t* dst = static_cast<uint16_t*>(out.data);
    for (int c = 0; c < 3; ++c) {
      uint16_t* o = dst + c * plane + at;
      const uint16_t* lut = tables.f16[c];
      for (int x = 0; x < out_w; ++x) o[x] = lut[rgb[3 * x + c]];
    }
  } else {
    float* dst = static_cast<float*>(out.data);
    const float* const luts[3] = {tables.f32[0], tables.f32[1], tables.f32[2]};
    float* const planes[3] = {dst + at, dst + plane + at, dst + 2 * plane + at};
    kernels.planes_f32(rgb, out_w, luts, planes);
  }
}

void preprocess_rows(const ImageView& image, const Plan& plan, const Tables& tables, const uint8_t fill_rgb[3],
                     const Kernels& kernels, OutputPlanes out, int row_begin, int row_end, Scratch& scratch) {
  run_rows(image, plan, fill_rgb, kernels, row_begin, row_end, scratch, [&](int y, const uint8_t* rgb) {
    store_rgb_row(rgb, y, plan.out_w, plan.out_h, tables, kernels, out);
  });
}

void read_rgb_row(const ImageView& image, int64_t y, int64_t x0, int64_t x1, uint8_t* rgb) {
  const int nc = layout_channels(image.layout);
  thread_local std::vector<uint8_t> staged;
  staged.resize(static_cast<std::size_t>(x1 - x0) * nc);
  stage_row(image, y, x0, x1, nc, false, staged.data(), x0);
  to_rgb(staged.data(), static_cast<int>(x1 - x0), image.layout, false, rgb);
}

void resize_rgb8(const ImageView& image, const Plan& plan, const uint8_t fill_rgb[3], const Kernels& kernels,
                 uint8_t* out, Scratch& scratch) {
  const std::size_t row_bytes = static_cast<std::size_t>(plan.out_w) * 3;
  run_rows(image, plan, fill_rgb, kernels, 0, plan.out_h, scratch, [&](int y, const uint8_t* rgb) {
    std::copy(rgb, rgb + row_bytes, out + static_cast<std::size_t>(y) * row_bytes);
  });
}

}  // namespace pinclip
