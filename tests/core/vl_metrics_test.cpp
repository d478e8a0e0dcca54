// VQA normaliser and score (official evaluator cases), caption tokens, BLEU-4 and CIDEr-D on
// worked examples small enough to check by hand (arithmetic in the comments; the same values
// from tests/reference/vl_caption_metrics_reference.py, a re-implementation used only as a
// cross-check of the arithmetic) plus properties.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ladder/data/vl/metrics.h"
#include "ladder/error.h"

namespace {

using ladder::data::caption_tokens;
using ladder::data::cider_d;
using ladder::data::corpus_bleu4;
using ladder::data::normalize_vqa_answer;
using ladder::data::vqa_score;
using Strings = std::vector<std::string>;
using Refs = std::vector<Strings>;

// Each expectation was also checked against the authors' own VQAEvaluator.normalize_answer
// (VL-T5/src/vqa_data.py) run in Python; that run is not part of the tests.
TEST(VqaNormalizer, OfficialEvaluatorCases) {
  EXPECT_EQ(normalize_vqa_answer("Two"), "2");
  EXPECT_EQ(normalize_vqa_answer("a dog"), "dog");
  EXPECT_EQ(normalize_vqa_answer("isnt"), "isn't");
  EXPECT_EQ(normalize_vqa_answer("yes."), "yes");
  EXPECT_EQ(normalize_vqa_answer("  Yes\n"), "yes");
  EXPECT_EQ(normalize_vqa_answer("the one"), "1");
  EXPECT_EQ(normalize_vqa_answer("none"), "0");
  EXPECT_EQ(normalize_vqa_answer("An Apple\tpie"), "apple pie");
  EXPECT_EQ(normalize_vqa_answer("maam"), "ma'am");
  EXPECT_EQ(normalize_vqa_answer("Im"), "im");  // the table's capitalised keys never match
  // Periods: deleted unless a digit follows.
  EXPECT_EQ(normalize_vqa_answer("3.5"), "3.5");
  EXPECT_EQ(normalize_vqa_answer("a.m."), "am");
  // Punctuation next to a space is deleted, otherwise it becomes a space.
  EXPECT_EQ(normalize_vqa_answer("red/white"), "red white");
  EXPECT_EQ(normalize_vqa_answer("red / white"), "red white");
  EXPECT_EQ(normalize_vqa_answer("hot-dog"), "hot dog");
  EXPECT_EQ(normalize_vqa_answer("dog!"), "dog");
  EXPECT_EQ(normalize_vqa_answer("(yes)"), "yes");
  // A digit,digit anywhere deletes every mark outright: "1,000-2" -> "10002".
  EXPECT_EQ(normalize_vqa_answer("1,000-2"), "10002");
  EXPECT_EQ(normalize_vqa_answer("1,000"), "1000");
  EXPECT_EQ(normalize_vqa_answer("it's"), "it's");  // apostrophes are not punctuation here
  EXPECT_EQ(normalize_vqa_answer(""), "");
}

TEST(VqaNormalizer, PeriodStripStopsAfter32) {
  // The evaluator passes re.UNICODE (32) as re.sub's count: the 33rd period survives.
  EXPECT_EQ(normalize_vqa_answer(std::string(33, '.') + "x"), ".x");
}

TEST(VqaScore, LabelWeightOfTheNormalisedPrediction) {
  const std::vector<std::pair<std::string, double>> label = {{"2", 1.0}, {"3", 0.3}, {"dog", 0.6}};
  EXPECT_DOUBLE_EQ(vqa_score("Two", label), 1.0);
  EXPECT_DOUBLE_EQ(vqa_score("three.", label), 0.3);
  EXPECT_DOUBLE_EQ(vqa_score("a dog", label), 0.6);
  EXPECT_DOUBLE_EQ(vqa_score("cat", label), 0.0);
  EXPECT_DOUBLE_EQ(vqa_score("2", {}), 0.0);
  // Keys are normalised too; of two that collide the higher weight counts.
  EXPECT_DOUBLE_EQ(vqa_score("dog", {{"a dog", 0.3}, {"The Dog", 0.9}}), 0.9);
}

TEST(CaptionTokens, ApproximatePtbTokenizer) {
  EXPECT_EQ(caption_tokens("A man's dog, running."), (Strings{"a", "man", "'s", "dog", "running"}));
  EXPECT_EQ(caption_tokens("Don't stop!"), (Strings{"do", "n't", "stop"}));
  EXPECT_EQ(caption_tokens("3.5 km, 1,000 people"), (Strings{"3.5", "km", "1,000", "people"}));
  EXPECT_EQ(caption_tokens("a t-shirt - blue -- (new) \"quoted\" 'single'"),
            (Strings{"a", "t-shirt", "blue", "new", "quoted", "single"}));
  EXPECT_EQ(caption_tokens("wait... what?"), (Strings{"wait", "what"}));
  EXPECT_TRUE(caption_tokens(" . , ").empty());
}

TEST(CaptionBleu, WorkedExampleWithBrevityPenalty) {
  // prediction "the cat sat on the mat" (c = 6), reference "the cat sat on the red mat" (r = 7).
  //   1-grams: the x2 (ref has 2), cat, sat, on, mat: 6/6
  //   2-grams: the cat, cat sat, sat on, on the match; the mat does not: 4/5
  //   3-grams: the cat sat, cat sat on, sat on the match; on the mat does not: 3/4
  //   4-grams: the cat sat on, cat sat on the match; sat on the mat does not: 2/3
  //   BLEU-4 = (1 * 4/5 * 3/4 * 2/3)^(1/4) * exp(1 - 7/6) = 0.4^0.25 * e^(-1/6)
  //          = 0.795270729 * 0.846481725 = 0.673182138
  const double expected = std::pow(0.4, 0.25) * std::exp(-1.0 / 6);
  EXPECT_NEAR(corpus_bleu4({"The cat sat on the mat."}, {{"the cat sat on the red mat"}}), expected, 1e-9);
}

TEST(CaptionBleu, CountsAreSummedOverTheCorpus) {
  // "a b c d" vs "a b c d": correct = guess = 4, 3, 2, 1; "x y" vs "z w": guess 2, 1, 0, 0, correct 0.
  // Sums: correct 4, 3, 2, 1 over guess 6, 4, 2, 1 -> (4/6 * 3/4 * 1 * 1)^(1/4) = 0.5^0.25 = 0.840896;
  // c = r = 6, no penalty. (The mean of sentence scores would be about 0.5.)
  EXPECT_NEAR(corpus_bleu4({"a b c d", "x y"}, {{"a b c d"}, {"z w"}}), std::pow(0.5, 0.25), 1e-9);
}

TEST(CaptionBleu, ClosestReferenceLengthTiesToTheShorter) {
  // c = 4, references of 3 and 5 words are equally close: r = 3 (the shorter), so no penalty,
  // and every n-gram of the prediction is in "a b c d e": BLEU = 1 (up to the 1e-9 smoothing).
  // Taking r = 5 would give exp(1 - 5/4) = 0.7788.
  EXPECT_NEAR(corpus_bleu4({"a b c d"}, {{"a b c", "a b c d e"}}), 1.0, 1e-8);
}

TEST(CaptionBleu, Properties) {
  EXPECT_NEAR(corpus_bleu4({"a man riding a horse"}, {{"a man riding a horse"}}), 1.0, 1e-8);
  EXPECT_NEAR(corpus_bleu4({"A man, riding a horse."}, {{"a man riding a horse"}}), 1.0, 1e-8);  // tokenised alike
  // No 4-gram in common: ~0 (tiny / guess), not exactly 0.
  EXPECT_LT(corpus_bleu4({"a b c d"}, {{"a b c x"}}), 1e-3);
  EXPECT_EQ(corpus_bleu4({}, {}), 0.0);
  EXPECT_THROW(corpus_bleu4({"a"}, {}), ladder::Error);
  EXPECT_THROW(corpus_bleu4({"a"}, {{}}), ladder::Error);
}

TEST(CaptionCider, WorkedExampleTwoImages) {
  // Images A: "a b" vs ref "a b"; B: "c e" vs ref "c d". N = 2 images, every reference n-gram has
  // df 1, so idf = log 2 - log 1 = L for each, and also L for B's unseen "e", "c e" (df 0 -> 1).
  // A: n=1 cos = (L^2 + L^2) / (sqrt2 L * sqrt2 L) = 1; n=2 = 1; n=3,4: no n-grams -> 0;
  //    equal bigram counts -> no penalty; (1 + 1 + 0 + 0)/4 / 1 ref * 10 = 5.
  // B: n=1: only "c" matches: L^2 / (sqrt2 L * sqrt2 L) = 1/2; n=2: "c e" vs "c d" -> 0;
  //    (1/2)/4 * 10 = 1.25.   CIDEr-D = (5 + 1.25) / 2 = 3.125.
  EXPECT_NEAR(cider_d({"a b", "c e"}, {{"a b"}, {"c d"}}), 3.125, 1e-12);
}

TEST(CaptionCider, ClippingAndLengthPenalty) {
  // A: "a a" vs "a"; B: "b" vs "b"; idf = L = log 2 throughout.
  // A: n=1: hyp a = 2L, ref a = L: clipped min(2L, L) * L / (2L * L) = 1/2 (unclipped: 1);
  //    bigram counts 1 vs 0 -> delta 1 -> penalty exp(-1/72); n=2: ref has no bigram -> 0.
  //    (1/2 e^(-1/72))/4 * 10 = 1.25 e^(-1/72).   B: n=1 = 1 -> 1/4 * 10 = 2.5.
  //    CIDEr-D = (1.25 e^(-1/72) + 2.5) / 2 = 1.866379448
  EXPECT_NEAR(cider_d({"a a", "b"}, {{"a"}, {"b"}}), (1.25 * std::exp(-1.0 / 72) + 2.5) / 2, 1e-12);
}

TEST(CaptionCider, SeveralReferencesAreAveraged) {
  // A: "a b c" vs {"a b c", "a b x"}: identical ref gives n=1,2,3 -> 1 each (3); "a b x" gives
  //    n=1: 2/(sqrt3 sqrt3) = 2/3, n=2: 1/(sqrt2 sqrt2) = 1/2 (7/6); (3 + 7/6)/4/2 * 10 = 5.208333.
  // B: "d e" vs {"d e", "d f g"}: 2, and n=1: 1/(sqrt2 sqrt3) with bigram delta 1 -> e^(-1/72)/sqrt6;
  //    (2 + e^(-1/72)/sqrt6)/4/2 * 10 = 3.003271.   Mean 4.105802522575416.
  const double a = (3 + 7.0 / 6) / 8 * 10;
  const double b = (2 + std::exp(-1.0 / 72) / std::sqrt(6.0)) / 8 * 10;
  EXPECT_NEAR(cider_d({"a b c", "d e"}, {{"a b c", "a b x"}, {"d e", "d f g"}}), (a + b) / 2, 1e-12);
  EXPECT_NEAR((a + b) / 2, 4.105802522575416, 1e-12);  // the reference script's value
}

TEST(CaptionCider, Properties) {
  // Perfect matches, one reference each, no n-gram shared between images (df 1 everywhere):
  // every n has cosine 1, so each image scores 10.
  const Strings captions = {"a man rides a horse", "two dogs play in snow", "red bus on the street"};
  EXPECT_NEAR(cider_d(captions, {{captions[0]}, {captions[1]}, {captions[2]}}), 10.0, 1e-12);
  // One image alone: idf = log 1 - log 1 = 0, so pycocoevalcap's CIDEr is 0.
  EXPECT_EQ(cider_d({"a man rides a horse"}, {{"a man rides a horse"}}), 0.0);
  // A word in every image's references carries no weight (idf = log 2 - log 2 = 0): "common"
  // alone scores 0 against "x common"; "y" vs "y common" matches "y" (cosine 1 at n=1, bigram
  // delta 1): 2.5 e^(-1/72). Mean 1.25 e^(-1/72).
  EXPECT_NEAR(cider_d({"common", "y"}, {{"x common"}, {"y common"}}), 1.25 * std::exp(-1.0 / 72), 1e-12);
  EXPECT_EQ(cider_d({}, {}), 0.0);
  EXPECT_THROW(cider_d({"a", "b"}, {{"a"}}), ladder::Error);
  EXPECT_THROW(cider_d({"a"}, {{}}), ladder::Error);
}

}  // namespace
