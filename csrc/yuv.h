// YUV 4:2:0 (NV12 / I420) to interleaved RGB, OpenCV's fixed-point scheme.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pinclip {

enum class YuvFormat { NV12, I420 };
enum class YuvMatrix { BT601, BT709 };

// `data` holds `height * 3 / 2` rows of `width` bytes, `row_stride` bytes apart (Y rows, then the
// chroma rows); width and height are even. Writes height x width x 3 bytes to `rgb`.
void yuv420_to_rgb(const uint8_t* data, std::ptrdiff_t row_stride, int width, int height, YuvFormat format,
                   YuvMatrix matrix, bool full_range, uint8_t* rgb);

}  // namespace pinclip
