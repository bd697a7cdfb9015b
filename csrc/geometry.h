// Output geometry of open_clip's eval transform: resize size, crop / pad offsets.
//
// The formulas are copied from torchvision (`Resize(int)` truncation in `_compute_resized_output_size`,
// `center_crop` with Python's round-half-to-even) and open_clip (`ResizeKeepRatio.get_params`,
// `center_crop_or_pad`), expression for expression, so that every size agrees bit for bit.
#pragma once

#include <cstdint>

namespace pinclip {

enum class ResizeMode { Shortest, Longest, Squash };
enum class Filter { Bilinear, Bicubic };
// What padded pixels hold: 0 (torchvision CenterCrop) or the spec's fill colour (CenterCropOrPad).
enum class FillKind { Zero, Color };

struct GeometrySpec {
  int out_h = 224;
  int out_w = 224;
  ResizeMode mode = ResizeMode::Shortest;
  Filter filter = Filter::Bicubic;
};

// Output pixel (x, y) comes from resized pixel (x + left, y + top); outside [0, resize) it is padding.
struct Plan {
  int64_t resize_w = 0;
  int64_t resize_h = 0;
  int64_t left = 0;
  int64_t top = 0;
  int out_w = 0;
  int out_h = 0;
  Filter filter = Filter::Bicubic;
  FillKind fill = FillKind::Zero;
  bool fast = false;  // int16 weights (opt-in fast mode, not bit-exact)
};

// Throws std::invalid_argument when open_clip itself would fail (a resize to zero pixels).
Plan compute_plan(int64_t width, int64_t height, const GeometrySpec& spec);

}  // namespace pinclip
