// ToTensor + Normalize as lookup tables: out = ((float)u / 255 - mean) / std in float32.
//
// torch computes `img.to(float32).div(255)` then `sub_(mean).div_(std)` with float32 mean and std,
// each an IEEE-rounded float32 operation; evaluating the same three operations once per (channel,
// level) gives a table that is bit-identical (needs -ffp-contract=off: no fused multiply-add).
#pragma once

#include <cstdint>

namespace pinclip {

struct Tables {
  float f32[3][256];
  uint16_t f16[3][256];  // IEEE binary16 of f32, rounded to nearest even (torch `.half()`)
};

Tables make_tables(const double mean[3], const double std_dev[3]);

// float32 -> float16 bits, round to nearest even, with overflow to inf and subnormals.
uint16_t float_to_half(float value);

}  // namespace pinclip
