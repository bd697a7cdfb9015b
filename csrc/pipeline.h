// One image through the whole eval transform: crop-aware two-pass resample, padding, mode
// conversion and normalisation into planar float32 / float16. No Python objects in here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "geometry.h"
#include "normalize.h"
#include "resample.h"

namespace pinclip {

// How the channels of a source pixel are read. RGBA/BGRA are premultiplied for the resize and
// un-premultiplied after it, then alpha is dropped (Pillow `resize` + `convert("RGB")`); CMYK is
// resized as 4 bands and then converted with Pillow's `cmyk2rgb`; Gray is replicated to RGB.
enum class Layout { Gray, RGB, BGR, RGBA, BGRA, CMYK };

int layout_channels(Layout layout);

// A uint8 image read in place: element (y, x, c) is at data + y*row_stride + x*pixel_stride + c*channel_stride.
struct ImageView {
  const uint8_t* data = nullptr;
  int64_t width = 0;
  int64_t height = 0;
  std::ptrdiff_t row_stride = 0;
  std::ptrdiff_t pixel_stride = 0;
  std::ptrdiff_t channel_stride = 1;
  Layout layout = Layout::RGB;
};

// Planar [3, out_h, out_w] destination, contiguous; float32 or float16 (as uint16 bits).
struct OutputPlanes {
  void* data = nullptr;
  bool half = false;
};

// Per-thread buffers, reused across images so the hot path does not allocate after warm-up.
struct Scratch {
  std::vector<uint8_t> band;
  std::vector<uint8_t> stage;
  std::vector<uint8_t> row;
};

// Computes output rows [row_begin, row_end) of `image` under `plan`. `fill_rgb` is the colour of
// padded pixels after conversion to RGB. Throws std::length_error / std::bad_alloc on absurd sizes.
void preprocess_rows(const ImageView& image, const Plan& plan, const Tables& tables, const uint8_t fill_rgb[3],
                     const Kernels& kernels, OutputPlanes out, int row_begin, int row_end, Scratch& scratch);

// Normalises one uint8 RGB row into row `y` of the planar output ([3, out_h, out_w]).
void store_rgb_row(const uint8_t* rgb, int y, int out_w, int out_h, const Tables& tables, const Kernels& kernels,
                   OutputPlanes out);

// Source pixels [x0, x1) of row `y` as RGB, converted like Pillow's `convert("RGB")` (alpha dropped,
// CMYK converted, gray replicated), without any resample.
void read_rgb_row(const ImageView& image, int64_t y, int64_t x0, int64_t x1, uint8_t* rgb);

// The uint8 RGB result before normalisation ([out_h, out_w, 3]), for parity debugging and tests.
void resize_rgb8(const ImageView& image, const Plan& plan, const uint8_t fill_rgb[3], const Kernels& kernels,
                 uint8_t* out, Scratch& scratch);

}  // namespace pinclip
