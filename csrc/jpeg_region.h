// Decoding only the boxes of a JPEG a native view reads (crop, tiles), through libjpeg-turbo's
// scanline skipping and horizontal cropping: rows above a box cost only entropy decoding, rows
// below the last box are never read, and only the boxes' columns go through the IDCT, chroma
// upsampling and colour conversion. Each box is bit-identical to the same box of a full decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pinclip {

struct JpegBox {
  int left, top, right, bottom;  // stored pixels, right / bottom exclusive
};

// True when the core was built against libjpeg-turbo (>= 1.5: jpeg_skip_scanlines and
// jpeg_crop_scanline); false means callers decode in full.
bool jpeg_regions_supported();

// Decodes every box of one 8-bit JPEG (gray or YCbCr) into `out` (one H x W x 3 RGB buffer per
// box, gray replicated) in one pass, and its size into width / height. Returns an empty string,
// or why the data cannot be region-decoded: corrupt or truncated data (a libjpeg error or
// warning, or no end-of-image marker after the scans), a box outside the image, or no support.
std::string decode_jpeg_regions(const uint8_t* data, size_t size, const std::vector<JpegBox>& boxes,
                                std::vector<std::vector<uint8_t>>& out, int& width, int& height);

}  // namespace pinclip
