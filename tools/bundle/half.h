// IEEE 754 binary16 ("fp16") conversions for bundle rows: float -> half
// rounds to nearest, ties to even (overflow to infinity, NaN stays NaN with
// its sign), half -> float is exact. Plain integer code, so a bundle
// written on one machine reads the same on any little-endian host.
#ifndef DIPS_TOOLS_BUNDLE_HALF_H_
#define DIPS_TOOLS_BUNDLE_HALF_H_

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dips {

inline uint16_t FloatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // infinity or NaN (kept quiet, non-zero mantissa)
    return sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x0200u : 0u);
  }
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds past 65504
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal half holds
    // round(|value| * 2^24). The scaling is exact; nearbyint rounds to even
    // (the default mode), and 1024 correctly becomes the smallest normal.
    float abs_value;
    std::memcpy(&abs_value, &magnitude, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(abs_value * 16777216.0f));
  }
  // Normal: drop 13 mantissa bits with round-to-nearest-even (a carry into
  // the exponent is the correct result), then rebias 127 -> 15.
  const uint32_t rounded = magnitude + 0x0fffu + ((magnitude >> 13) & 1u);
  return sign | static_cast<uint16_t>((rounded - 0x38000000u) >> 13);
}

inline float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    std::memcpy(&bits, &magnitude, 4);
    bits |= sign;
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

}  // namespace dips

#endif  // DIPS_TOOLS_BUNDLE_HALF_H_
