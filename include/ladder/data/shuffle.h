#pragma once
// Portable deterministic shuffling. std::shuffle and std::uniform_int_distribution give
// different results across standard libraries, so a split made with them on one machine
// would not be the split made on another; these are fully specified here.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ladder::data {

// splitmix64 (Steele, Lea, Flood 2014): 64-bit state, one add + mix per output.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [0, bound) without modulo bias (rejection sampling); bound must be > 0.
  uint64_t below(uint64_t bound);

 private:
  uint64_t state_;
};

// 0..n-1 permuted by Fisher-Yates (i from n-1 down to 1, j = below(i + 1)) with SplitMix64(seed).
std::vector<std::size_t> shuffled_indices(std::size_t n, uint64_t seed);

}  // namespace ladder::data
