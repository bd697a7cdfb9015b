#include "yuv.h"


namespace pinclip {
namespace {

// OpenCV (imgproc color_yuv): coefficients rounded to 3 decimals, in Q20, e.g. 1.164 -> 1220542.
constexpr int kShift = 20;

struct YuvCoeffs {
  int cy, cub, cug, cvg, cvr, y_offset;
};

int q20(double c) { return static_cast<int>(c * (1 << kShift) + (c < 0 ? -0.5 : 0.5)); }

YuvCoeffs coeffs(YuvMatrix m, bool full) {
  // Limited range stretches Y by 255/219 and chroma by 255/224; full range keeps them.
  if (m == YuvMatrix::BT601) {
    if (!full) return {1220542, 2116026, -409993, -852492, 1673527, 16};  // OpenCV's exact values
    return {q20(1.0), q20(1.772), q20(-0.344), q20(-0.714), q20(1.402), 0};
  }
  if (!full) return {1220542, q20(2.112), q20(-0.213), q20(-0.533), q20(1.793), 16};
  return {q20(1.0), q20(1.856), q20(-0.187), q20(-0.468), q20(1.575), 0};
}

inline uint8_t sat8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

}  // namespace

void yuv420_to_rgb(const uint8_t* data, std::ptrdiff_t row_stride, int width, int height, YuvFormat format,
                   YuvMatrix matrix, bool full_range, uint8_t* rgb) {
  const YuvCoeffs k = coeffs(matrix, full_range);
  const uint8_t* chroma = data + static_cast<std::ptrdiff_t>(height) * row_stride;
  for (int y = 0; y < height; ++y) {
    const uint8_t* yrow = data + static_cast<std::ptrdiff_t>(y) * row_stride;
    const uint8_t* urow;
    const uint8_t* vrow;
    std::ptrdiff_t cstep;
    if (format == YuvFormat::NV12) {
      urow = chroma + static_cast<std::ptrdiff_t>(y / 2) * row_stride;
      vrow = urow + 1;
      cstep = 2;
    } else {
      // I420: the U plane ((H/2) x (W/2) bytes) then the V plane, packed into rows of W bytes. A
      // chroma row starts at a multiple of W/2 bytes, so it never straddles two array rows.
      const std::size_t plane = static_cast<std::size_t>(width / 2) * (height / 2);
      const std::size_t off = static_cast<std::size_t>(y / 2) * (width / 2);
      auto at = [&](std::size_t i) {
        return chroma + static_cast<std::ptrdiff_t>(i / width) * row_stride + static_cast<std::ptrdiff_t>(i % width);
      };
      urow = at(off);
      vrow = at(plane + off);
      cstep = 1;
    }
    uint8_t* out = rgb + static_cast<std::size_t>(y) * width * 3;
    for (int x = 0; x < width; x += 2) {
      const int uu = urow[(x / 2) * cstep] - 128;
      const int vv = vrow[(x / 2) * cstep] - 128;
      const int ruv = (1 << (kShift - 1)) + k.cvr * vv;
      const int guv = (1 << (kShift - 1)) + k.cvg * vv + k.cug * uu;
      const int buv = (1 << (kShift - 1)) + k.cub * uu;
      for (int dx = 0; dx < 2; ++dx) {
        const int yy = yrow[x + dx] - k.y_offset;
        const int yv = (yy < 0 ? 0 : yy) * k.cy;
        out[3 * (x + dx)] = sat8((yv + ruv) >> kShift);
        out[3 * (x + dx) + 1] = sat8((yv + guv) >> kShift);
        out[3 * (x + dx) + 2] = sat8((yv + buv) >> kShift);
      }
    }
  }
}

}  // namespace pinclip
