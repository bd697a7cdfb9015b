// Views that keep the native pixels (PreprocessSpec.view): a centre crop, a grid of tiles and the
// patch-selection mosaic. Crops and tiles are plans without a resample (the pipeline reads only the
// crop's pixels); the mosaic scores every patch by the spectral entropy of its grayscale version.
#pragma once

#include <cstdint>
#include <vector>

#include "geometry.h"
#include "pipeline.h"

namespace pinclip {

enum class View { Resize, Crop, Tiles, Patches };

struct ViewSpec {
  View view = View::Resize;
  int tile_rows = 2;
  int tile_cols = 2;
  int patch_size = 32;
};

// Outputs one image becomes: tile_rows * tile_cols for Tiles, else 1.
int outputs_per_image(const ViewSpec& view);

// Offset of crop `index` of `count` along an axis of `size` pixels, crop `crop` pixels: centred
// (torchvision CenterCrop, negative = padded by (d // 2, (d + 1) // 2)) when count is 1 or the crop
// does not fit; else index * (size - crop) / (count - 1), floored: the first tile touches the
// start, the last the end, the others evenly between.
int64_t tile_offset(int64_t size, int64_t crop, int index, int count);

// The plan of output `index` (row-major over the grid) for a Crop (1x1 grid) or Tiles view: the
// identity resample, offsets into the source, padding with the spec's fill colour.
Plan native_crop_plan(int64_t width, int64_t height, int out_w, int out_h, int rows, int cols, int index);

// Spectral entropy of each full `patch` x `patch` patch, row-major, as an integer key:
// round(entropy * 1e9). Entropy as in the group's PatchSelectionTransform: gray = 0.299 R + 0.587 G
// + 0.114 B (divided by 255 when its maximum is above 1), power = |FFT2|^2, p = power / (sum +
// 1e-12), H = -sum p log2(p + 1e-12). The key makes patches whose spectra are mathematically equal
// (flat, mirrored or shifted patches) tie exactly, on every CPU.
std::vector<int64_t> patch_entropy_keys(const ImageView& image, int patch);

// Source patch index of each mosaic cell, row-major; -1 = cell left at the fill colour.
// Stable order by key; the lowest m // 2 and the highest m - m // 2 (m = cells), concatenated,
// then shuffled by Fisher-Yates with splitmix64(seed) (j = next() % (i + 1), i from the end).
std::vector<int> mosaic_cells(const std::vector<int64_t>& keys, int cells, uint64_t seed);

// The mosaic, uint8 RGB [out_h, out_w, 3].
void patch_mosaic_rgb(const ImageView& image, int out_w, int out_h, int patch, uint64_t seed,
                      const uint8_t fill_rgb[3], uint8_t* out);

}  // namespace pinclip
