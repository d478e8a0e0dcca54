#pragma once
// Portable deterministic shuffling. std::shuffle and std::uniform_int_distribution give
// different results across standard libraries, so a split made with them on one machine
// would not be the split made on another; these are fully specified here.
//   shuffled_indices  ladder's own permutation (SplitMix64), for custom data and batching.
//   torch_randperm    the permutation PyTorch's CPU torch.randperm makes, which the LST
//                     authors' code used for its GLUE splits (glue.h).
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

// Exactly torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist() on CPU,
// without libtorch. The LST authors' seq2seq/data/tasks.py (AbstractTask.shuffled_indices)
// splits GLUE with that call, so this reproduces their validation/test rows (glue.h).
// PyTorch's CPU generator is a standard MT19937 seeded with the low 32 bits of the seed, so
// std::mt19937 (fully specified by the C++ standard, hence portable) gives its stream, and
// ATen's randperm_cpu is:
//   r = 0..n-1; for i in 0..n-2: z = next_uint32() % (n - i); swap(r[i], r[i + z])
// Checked against torch 1.13 for n from 0 to 300,000,000 and several seeds (values in
// tests/core/data_test.cpp, Shuffle.TorchRandpermMatchesTorch); the authors pinned torch
// 1.10.2, whose randperm_cpu is the same.
// Newer PyTorch (2.x) switches to another algorithm (64-bit draws) for n >= 2^32 / 20 =
// 214,748,364; this function keeps the loop above for every n, as torch 1.10-1.13 do.
std::vector<std::size_t> torch_randperm(std::size_t n, uint64_t seed);

}  // namespace ladder::data
