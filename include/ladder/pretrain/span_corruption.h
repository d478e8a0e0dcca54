#pragma once
// T5's span-corruption objective (Raffel et al. 2020, §3.1.4), as Hugging Face's
// DataCollatorForT5MLM (examples/flax/language-modeling/run_t5_mlm_flax.py) implements it
// after t5.data.preprocessors.random_spans_noise_mask:
//
//   number of noise tokens  = round(length * noise_density), clamped to [1, length - 1]
//   number of noise spans   = max(1, round(noise tokens / mean_noise_span_length))
//   noise and non-noise tokens are each cut at random into that many non-empty spans and
//   interleaved non-noise first, so a sequence always starts with kept tokens and ends with
//   a noise span. round() is Python's: halves go to the even neighbour.
//
//   inputs  = non-noise tokens, each noise span replaced by one sentinel
//             <extra_id_0>, <extra_id_1>, ... in order, then </s>
//   targets = <extra_id_0> span 0 <extra_id_1> span 1 ... <extra_id_{n-1}> span n-1 </s>
//
// This is the HF collator's (and the T5 paper's Figure 2 minus its final sentinel) form: the
// targets end with the last span and </s>, without a closing <extra_id_n>; the original
// t5 preprocessors give the same sequences for this objective.
//
// The random choices come from SplitMix64 with our own bounded draws and shuffle, so a seed
// gives the same masks on every platform and standard library (std::shuffle and the std
// distributions are implementation-defined).
#include <cstdint>
#include <vector>

namespace ladder::pretrain {

// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and well mixed from consecutive seeds.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0, without modulo bias (rejection sampling).
  uint64_t below(uint64_t n);
  // Fisher-Yates.
  template <typename T>
  void shuffle(std::vector<T>& values) {
    for (std::size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[below(i)]);
  }

 private:
  uint64_t state_;
};

// A well-mixed seed from several integers (seed, epoch, block, index, ...).
uint64_t mix_seed(std::initializer_list<uint64_t> values);

// Python's round(): to the nearest integer, halves to even.
int64_t round_half_even(double value);

struct SpanCorruptionOptions {
  double noise_density = 0.15;
  double mean_noise_span_length = 3.0;
};

struct SpanLengths {
  int64_t raw_length = 0;      // tokens taken from the packed stream per example
  int64_t inputs_length = 0;   // corrupted input, </s> included
  int64_t targets_length = 0;  // targets, </s> included
};

// Lengths of the inputs and targets made from `raw_length` tokens (T5's
// _tokens_length_to_inputs_length_targets_length).
SpanLengths corrupted_lengths(int64_t raw_length, const SpanCorruptionOptions& options = {});

// T5's compute_input_and_target_lengths: the largest raw length whose corrupted input holds at
// most `inputs_length` tokens (exactly that many for the usual settings), and its target
// length. For inputs_length 512 this is the famous 568 -> 512 / 114; for 128: 141 -> 128 / 29.
SpanLengths compute_input_and_target_lengths(int64_t inputs_length, const SpanCorruptionOptions& options = {});

// T5's random_spans_noise_mask: 1 marks a noise token. length must be >= 2.
std::vector<uint8_t> random_spans_noise_mask(int64_t length, const SpanCorruptionOptions& options, Rng& rng);

struct CorruptedExample {
  std::vector<int64_t> inputs, targets;
};

// Applies a noise mask (HF's create_sentinel_ids + filter_input_ids). Sentinel n is
// first_sentinel_id - n (T5's vocabulary puts <extra_id_0> last and counts down); more than
// max_sentinels noise spans is a UsageError.
CorruptedExample apply_noise_mask(const std::vector<int64_t>& tokens, const std::vector<uint8_t>& noise_mask,
                                  int64_t first_sentinel_id, int64_t eos_id, int64_t max_sentinels = 100);

// Entropy in nats of the unigram distribution of all ids in `sequences`: the loss of a model
// that ignores its input and always predicts the corpus's token frequencies. The pretraining
// loss must fall well below it to show the model uses the context.
double unigram_entropy(const std::vector<std::vector<int64_t>>& sequences);

}  // namespace ladder::pretrain
