#include "geometry.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace pinclip {
namespace {

// Python's round() on a float: ties to even (std::nearbyint in the default rounding mode).
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

// torchvision `Resize(int size)`: the short side becomes `size`, the long side is truncated.
void resize_short_side(int64_t w, int64_t h, int64_t size, int64_t* new_w, int64_t* new_h) {
  const bool w_short = w <= h;
  const int64_t shorter = w_short ? w : h;
  const int64_t longer = w_short ? h : w;
  // Python: int(requested_new_short * long / short); the product is an exact int, then true division.
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(size * longer) / static_cast<double>(shorter));
  *new_w = w_short ? size : new_long;
  *new_h = w_short ? new_long : size;
}

// open_clip `ResizeKeepRatio.get_params` without the random parts (ratio_factor = (1., 1.)).
void resize_keep_ratio(int64_t w, int64_t h, int out_h, int out_w, double longest, int64_t* new_w,
                       int64_t* new_h) {
  const double ratio_h = static_cast<double>(h) / out_h;
  const double ratio_w = static_cast<double>(w) / out_w;
  const double ratio =
      std::max(ratio_h, ratio_w) * longest + std::min(ratio_h, ratio_w) * (1.0 - longest);
  *new_h = py_round(static_cast<double>(h) * 1.0 / ratio);
  *new_w = py_round(static_cast<double>(w) * 1.0 / ratio);
}

// torchvision `center_crop` / open_clip `center_crop_or_pad` offset along one axis.
int64_t center_offset(int64_t size, int64_t crop) {
  if (crop > size) return -((crop - size) / 2);  // padded by (d // 2, (d + 1) // 2)
  return py_round(static_cast<double>(size - crop) / 2.0);
}

}  // namespace

Plan compute_plan(int64_t width, int64_t height, const GeometrySpec& spec) {
  if (width < 1 || height < 1) throw std::invalid_argument("image has zero width or height");
  Plan plan;
  plan.out_w = spec.out_w;
  plan.out_h = spec.out_h;
  plan.filter = spec.filter;
  switch (spec.mode) {
    case ResizeMode::Squash:
      plan.resize_w = spec.out_w;
      plan.resize_h = spec.out_h;
      break;
    case ResizeMode::Longest:
      resize_keep_ratio(width, height, spec.out_h, spec.out_w, 1.0, &plan.resize_w, &plan.resize_h);
      plan.fill = FillKind::Color;
      break;
    case ResizeMode::Shortest:
      if (spec.out_h == spec.out_w) {
        resize_short_side(width, height, spec.out_h, &plan.resize_w, &plan.resize_h);
      } else {
        // open_clip builds `ResizeKeepRatio(image_size)` here without passing the interpolation,
        // so this case is always bicubic, whatever the spec says.
        resize_keep_ratio(width, height, spec.out_h, spec.out_w, 0.0, &plan.resize_w, &plan.resize_h);
        plan.filter = Filter::Bicubic;
      }
      break;
  }
  if (plan.resize_w < 1 || plan.resize_h < 1) {
    throw std::invalid_argument("image " + std::to_string(width) + "x" + std::to_string(height) +
                                " would be resized to zero pixels (" + std::to_string(plan.resize_w) + "x" +
                                std::to_string(plan.resize_h) + "); open_clip fails on it too");
  }
  plan.left = center_offset(plan.resize_w, spec.out_w);
  plan.top = center_offset(plan.resize_h, spec.out_h);
  return plan;
}

}  // namespace pinclip
