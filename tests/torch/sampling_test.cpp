// How generate picks the next token: greedy, temperature, top-k, top-p, repetition penalty.
#include <gtest/gtest.h>

#include <cmath>

#include "ladder/error.h"
#include "ladder/models/sampling.h"
#include "../core/expect_error.h"
#include "test_util.h"

namespace ladder {
namespace {

torch::Tensor row(std::vector<float> values) { return torch::tensor(values).unsqueeze(0); }
const torch::Tensor kNothingYet = torch::zeros({1, 0}, torch::kLong);

TEST(Sampling, GreedyIsTheArgmaxAndThePenaltyActsOnSeenTokens) {
  SamplingOptions greedy;
  torch::Generator g = sampling_generator(greedy);
  const torch::Tensor logits = row({1.0f, 3.0f, 2.9f, -1.0f});
  EXPECT_EQ(pick_next_tokens(logits, kNothingYet, greedy, g).item<int64_t>(), 1);
  // Token 1 was generated already: 3.0 / 1.5 = 2.0 < 2.9, so token 2 wins; a negative logit is
  // multiplied (-1 * 1.5), never raised.
  SamplingOptions penalised;
  penalised.repetition_penalty = 1.5;
  const torch::Tensor seen = torch::tensor({1, 3}, torch::kLong).unsqueeze(0);
  EXPECT_EQ(pick_next_tokens(logits, seen, penalised, g).item<int64_t>(), 2);
  SamplingOptions k1 = greedy;
  k1.temperature = 5.0, k1.top_k = 1;
  EXPECT_EQ(pick_next_tokens(logits, kNothingYet, k1, g).item<int64_t>(), 1);  // only the best is left
}

TEST(Sampling, DrawsFollowTheFilteredDistributionAndTheSeed) {
  // Probabilities 0.6, 0.3, 0.1: 4,000 draws each (a fixed seed: the counts are exact numbers).
  const torch::Tensor logits = row({std::log(0.6f), std::log(0.3f), std::log(0.1f)}).repeat({4000, 1});
  auto shares = [&](SamplingOptions s) {
    torch::Generator g = sampling_generator(s);
    const torch::Tensor next = pick_next_tokens(logits, torch::zeros({4000, 0}, torch::kLong), s, g);
    return std::vector<double>{next.eq(0).to(torch::kDouble).mean().item<double>(),
                               next.eq(1).to(torch::kDouble).mean().item<double>(),
                               next.eq(2).to(torch::kDouble).mean().item<double>()};
  };
  SamplingOptions plain;
  plain.temperature = 1.0, plain.seed = 7;
  const auto p = shares(plain);
  EXPECT_NEAR(p[0], 0.6, 0.03);  // about 4 standard deviations
  EXPECT_NEAR(p[1], 0.3, 0.03);
  EXPECT_NEAR(p[2], 0.1, 0.02);
  EXPECT_EQ(shares(plain), p);  // same seed, same draws
  SamplingOptions other = plain;
  other.seed = 8;
  EXPECT_NE(shares(other), p);
  // top-p 0.8: 0.6 alone falls short, 0.6 + 0.3 reaches it; the 0.1 token is never drawn and the
  // other two share in proportion, 2:1.
  SamplingOptions nucleus = plain;
  nucleus.top_p = 0.8;
  const auto n = shares(nucleus);
  EXPECT_EQ(n[2], 0.0);
  EXPECT_NEAR(n[0], 2.0 / 3.0, 0.03);
  // top-k 1 with any temperature is greedy; a low temperature is nearly greedy.
  SamplingOptions top1 = plain;
  top1.top_k = 1;
  EXPECT_EQ(shares(top1)[0], 1.0);
  SamplingOptions cold = plain;
  cold.temperature = 0.05;
  EXPECT_GT(shares(cold)[0], 0.99);
}

TEST(Sampling, BadOptionsNameTheFlag) {
  auto message = [](SamplingOptions s) { return test::error_of<UsageError>([&] { s.validate(); }); };
  SamplingOptions s;
  s.temperature = -1;
  EXPECT_TRUE(test::contains(message(s), "--temperature")) << message(s);
  s = {};
  s.top_p = 0.9;  // without a temperature
  EXPECT_TRUE(test::contains(message(s), "--temperature")) << message(s);
  s = {};
  s.temperature = 1, s.top_p = 1.5;
  EXPECT_TRUE(test::contains(message(s), "--top-p")) << message(s);
  s = {};
  s.repetition_penalty = 0;
  EXPECT_TRUE(test::contains(message(s), "--repetition-penalty")) << message(s);
}

}  // namespace
}  // namespace ladder
