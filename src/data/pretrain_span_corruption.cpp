#include "ladder/pretrain/span_corruption.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "ladder/error.h"

namespace ladder::pretrain {

uint64_t Rng::below(uint64_t n) {
  if (n == 0) throw UsageError("Rng::below(0): empty range");
  // Reject the top partial copy of [0, n) so every value is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next();
  while (x >= limit);
  return x % n;
}

uint64_t mix_seed(std::initializer_list<uint64_t> values) {
  uint64_t h = 0x243F6A8885A308D3ull;
  for (uint64_t v : values) {
    Rng rng(h ^ v);
    h = rng.next();
  }
  return h;
}

int64_t round_half_even(double value) {
  const double floor = std::floor(value);
  const double diff = value - floor;
  if (diff < 0.5) return static_cast<int64_t>(floor);
  if (diff > 0.5) return static_cast<int64_t>(floor) + 1;
  const int64_t f = static_cast<int64_t>(floor);
  return f % 2 == 0 ? f : f + 1;
}

SpanLengths corrupted_lengths(int64_t raw_length, const SpanCorruptionOptions& o) {
  // Python computes `int(round(tokens_length * noise_density))` in doubles; so do we.
  const int64_t noise = round_half_even(static_cast<double>(raw_length) * o.noise_density);
  const int64_t nonnoise = raw_length - noise;
  const int64_t spans = round_half_even(static_cast<double>(noise) / o.mean_noise_span_length);
  return {raw_length, nonnoise + spans + 1, noise + spans + 1};
}

SpanLengths compute_input_and_target_lengths(int64_t inputs_length, const SpanCorruptionOptions& o) {
  if (inputs_length < 2) throw UsageError("input length must be at least 2, found " + std::to_string(inputs_length));
  if (!(o.noise_density > 0 && o.noise_density < 1))
    throw UsageError("noise density must be in (0, 1), found " + std::to_string(o.noise_density));
  if (!(o.mean_noise_span_length >= 1))
    throw UsageError("mean noise span length must be >= 1, found " + std::to_string(o.mean_noise_span_length));
  int64_t tokens_length = inputs_length;
  while (corrupted_lengths(tokens_length + 1, o).inputs_length <= inputs_length) ++tokens_length;
  SpanLengths lengths = corrupted_lengths(tokens_length, o);
  // HF's "minor hack" for density 0.5: keep the targets no longer than the inputs.
  if (o.noise_density == 0.5 && lengths.targets_length > lengths.inputs_length) {
    lengths.raw_length -= 1;
    lengths.targets_length -= 1;
  }
  return lengths;
}

namespace {

// Cuts num_items into num_segments non-empty segments at random (T5's _random_segmentation):
// num_segments - 1 cut points chosen uniformly among the num_items - 1 gaps.
std::vector<int64_t> random_segmentation(int64_t num_items, int64_t num_segments, Rng& rng) {
  std::vector<uint8_t> first_in_segment(static_cast<std::size_t>(num_items - 1), 0);
  for (int64_t i = 0; i < num_segments - 1; ++i) first_in_segment[static_cast<std::size_t>(i)] = 1;
  rng.shuffle(first_in_segment);
  std::vector<int64_t> lengths;
  lengths.reserve(static_cast<std::size_t>(num_segments));
  int64_t current = 1;
  for (uint8_t cut : first_in_segment) {
    if (cut) {
      lengths.push_back(current);
      current = 1;
    } else {
      ++current;
    }
  }
  lengths.push_back(current);
  return lengths;
}

}  // namespace

std::vector<uint8_t> random_spans_noise_mask(int64_t length, const SpanCorruptionOptions& o, Rng& rng) {
  if (length < 2) throw UsageError("span corruption needs at least 2 tokens, found " + std::to_string(length));
  int64_t num_noise = round_half_even(static_cast<double>(length) * o.noise_density);
  // Avoid degeneracy: at least one noise and one kept token, at least one span.
  num_noise = std::min(std::max<int64_t>(num_noise, 1), length - 1);
  const int64_t num_spans =
      std::max<int64_t>(round_half_even(static_cast<double>(num_noise) / o.mean_noise_span_length), 1);
  const int64_t num_nonnoise = length - num_noise;
  if (num_spans > num_nonnoise)
    throw UsageError("span corruption: " + std::to_string(num_spans) + " noise spans need as many kept tokens, only " +
                     std::to_string(num_nonnoise) + " (noise density too high for this length)");
  const std::vector<int64_t> noise_lengths = random_segmentation(num_noise, num_spans, rng);
  const std::vector<int64_t> nonnoise_lengths = random_segmentation(num_nonnoise, num_spans, rng);
  std::vector<uint8_t> mask;
  mask.reserve(static_cast<std::size_t>(length));
  for (int64_t s = 0; s < num_spans; ++s) {
    mask.insert(mask.end(), static_cast<std::size_t>(nonnoise_lengths[static_cast<std::size_t>(s)]), 0);
    mask.insert(mask.end(), static_cast<std::size_t>(noise_lengths[static_cast<std::size_t>(s)]), 1);
  }
  return mask;
}

CorruptedExample apply_noise_mask(const std::vector<int64_t>& tokens, const std::vector<uint8_t>& noise_mask,
                                  int64_t first_sentinel_id, int64_t eos_id, int64_t max_sentinels) {
  if (tokens.size() != noise_mask.size())
    throw UsageError(expected_found("noise mask length", std::to_string(tokens.size()), std::to_string(noise_mask.size())));
  CorruptedExample out;
  int64_t span = -1;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const bool noise = noise_mask[i] != 0;
    const bool starts_span = noise && (i == 0 || noise_mask[i - 1] == 0);
    if (starts_span) {
      ++span;
      if (span >= max_sentinels)
        throw UsageError("span corruption: more noise spans than sentinels (" + std::to_string(max_sentinels) +
                         "); use a shorter --input-length or a longer mean span");
      const int64_t sentinel = first_sentinel_id - span;
      out.inputs.push_back(sentinel);
      out.targets.push_back(sentinel);
    }
    // Kept tokens stay in the inputs; noise tokens follow their span's sentinel in the targets.
    (noise ? out.targets : out.inputs).push_back(tokens[i]);
  }
  out.inputs.push_back(eos_id);
  out.targets.push_back(eos_id);
  return out;
}

double unigram_entropy(const std::vector<std::vector<int64_t>>& sequences) {
  std::unordered_map<int64_t, int64_t> counts;
  int64_t total = 0;
  for (const auto& sequence : sequences)
    for (int64_t id : sequence) {
      ++counts[id];
      ++total;
    }
  if (total == 0) return 0.0;
  double entropy = 0.0;
  for (const auto& [id, count] : counts) {
    const double p = static_cast<double>(count) / static_cast<double>(total);
    entropy -= p * std::log(p);
  }
  return entropy;
}

}  // namespace ladder::pretrain
