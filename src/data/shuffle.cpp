#include "ladder/data/shuffle.h"

#include <numeric>
#include <random>
#include <utility>

#include "ladder/error.h"

namespace ladder::data {

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::below(uint64_t bound) {
  if (bound == 0) throw Error("SplitMix64::below: bound must be positive");
  // Values under `threshold` would make some residues more likely than others.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = next();
    if (r >= threshold) return r % bound;
  }
}

std::vector<std::size_t> shuffled_indices(std::size_t n, uint64_t seed) {
  std::vector<std::size_t> indices(n);
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  SplitMix64 rng(seed);
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.below(i));
    std::swap(indices[i - 1], indices[j]);
  }
  return indices;
}

std::vector<std::size_t> torch_randperm(std::size_t n, uint64_t seed) {
  // at::mt19937 keeps only seed & 0xffffffff (std::mt19937 would reduce it mod 2^32 as well).
  std::mt19937 engine(static_cast<uint32_t>(seed & 0xffffffffULL));
  std::vector<std::size_t> r(n);
  std::iota(r.begin(), r.end(), std::size_t{0});
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const uint64_t z = static_cast<uint64_t>(static_cast<uint32_t>(engine())) % static_cast<uint64_t>(n - i);
    std::swap(r[i], r[i + static_cast<std::size_t>(z)]);
  }
  return r;
}

}  // namespace ladder::data
