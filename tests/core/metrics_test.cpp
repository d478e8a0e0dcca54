// Metrics against values computed by hand (the arithmetic is in the comments).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ladder/data/metrics.h"
#include "ladder/error.h"

namespace {

using ladder::data::evaluate_task;
using Strings = std::vector<std::string>;

TEST(Metrics, Accuracy) {
  EXPECT_DOUBLE_EQ(ladder::data::accuracy({"1", "0", "1", "x"}, {"1", "1", "1", "0"}), 0.5);
  EXPECT_THROW(ladder::data::accuracy({"1"}, {"1", "0"}), ladder::Error);
  EXPECT_THROW(ladder::data::accuracy({}, {}), ladder::Error);
}

TEST(Metrics, BinaryF1AndEdgeCases) {
  // tp=2 (0, 4), fp=1 (1), fn=1 (2): F1 = 4 / (4 + 1 + 1).
  EXPECT_NEAR(ladder::data::binary_f1({"1", "1", "0", "0", "1"}, {"1", "0", "1", "0", "1"}), 4.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(ladder::data::binary_f1({"1", "0"}, {"1", "0"}), 1.0);
  // No positives anywhere: F1 defined as 0.
  EXPECT_DOUBLE_EQ(ladder::data::binary_f1({"0", "0"}, {"0", "0"}), 0.0);
  // Only false positives / only false negatives: 0.
  EXPECT_DOUBLE_EQ(ladder::data::binary_f1({"1", "1"}, {"0", "0"}), 0.0);
  EXPECT_DOUBLE_EQ(ladder::data::binary_f1({"0", "0"}, {"1", "1"}), 0.0);
  // Another positive class.
  EXPECT_NEAR(ladder::data::binary_f1({"b", "a"}, {"b", "b"}, "b"), 2.0 / 3.0, 1e-12);
}

TEST(Metrics, MacroF1) {
  // labels a, b, c. a: tp1 fn1 -> 2/3; b: tp1 fp1 -> 2/3; c: tp0 -> 0. Mean 4/9.
  const Strings refs = {"a", "a", "b", "c"}, preds = {"a", "b", "b", "zzz"};
  EXPECT_NEAR(ladder::data::macro_f1(preds, refs, {"a", "b", "c"}), 4.0 / 9.0, 1e-12);
  EXPECT_NEAR(ladder::data::macro_f1(preds, refs), 4.0 / 9.0, 1e-12);  // labels from references
  const auto m = ladder::data::evaluate_classification(preds, refs, {"a", "b", "c"});
  EXPECT_DOUBLE_EQ(m.at("accuracy"), 0.5);
  EXPECT_NEAR(m.at("macro_f1"), 4.0 / 9.0, 1e-12);
  EXPECT_NEAR(m.at("score"), 4.0 / 9.0, 1e-12);
}

TEST(Metrics, MatthewsOnConfusionMatrix) {
  // (ref, pred): (1,1) x3 -> tp 3; (0,0) x2 -> tn 2; (0,1) -> fp 1; (1,0) x2 -> fn 2.
  // MCC = (3*2 - 1*2) / sqrt((3+1)(3+2)(2+1)(2+2)) = 4 / sqrt(240).
  const Strings refs = {"1", "1", "1", "0", "0", "0", "1", "1"};
  const Strings preds = {"1", "1", "1", "0", "0", "1", "0", "0"};
  EXPECT_NEAR(ladder::data::matthews_corrcoef(preds, refs), 4.0 / std::sqrt(240.0), 1e-12);
  EXPECT_NEAR(ladder::data::matthews_corrcoef({"0", "1"}, {"1", "0"}), -1.0, 1e-12);
  EXPECT_NEAR(ladder::data::matthews_corrcoef({"0", "1", "1"}, {"0", "1", "1"}), 1.0, 1e-12);
  // A constant prediction makes the denominator 0: MCC 0, as sklearn.
  EXPECT_DOUBLE_EQ(ladder::data::matthews_corrcoef({"1", "1", "1"}, {"1", "0", "1"}), 0.0);
  // Three classes: t=(2,2,2), p=(2,3,1), c=5, s=6 -> (30-12) / sqrt((36-14)(36-12)) = 18/sqrt(528).
  EXPECT_NEAR(ladder::data::matthews_corrcoef({"0", "1", "1", "0", "1", "2"}, {"0", "1", "2", "0", "1", "2"}),
              18.0 / std::sqrt(528.0), 1e-12);
}

TEST(Metrics, Pearson) {
  // x mean 3, y mean 4: sxy = 6, sxx = 10, syy = 6 -> 6 / sqrt(60).
  EXPECT_NEAR(ladder::data::pearson({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5}), 6.0 / std::sqrt(60.0), 1e-12);
  EXPECT_NEAR(ladder::data::pearson({1, 2, 3}, {-2, -4, -6}), -1.0, 1e-12);
  EXPECT_DOUBLE_EQ(ladder::data::pearson({1, 2, 3}, {7, 7, 7}), 0.0);  // zero variance
}

TEST(Metrics, SpearmanWithTies) {
  EXPECT_EQ(ladder::data::average_ranks({10, 20, 20, 30}), (std::vector<double>{1, 2.5, 2.5, 4}));
  EXPECT_EQ(ladder::data::average_ranks({3, 1, 3, 3}), (std::vector<double>{3, 1, 3, 3}));
  // ranks x {1, 2.5, 2.5, 4}, y {1, 3, 2, 4}: sxy 4.5, sxx 4.5, syy 5 -> 4.5 / sqrt(22.5)
  // (scipy.stats.spearmanr gives 0.9486832980505138).
  EXPECT_NEAR(ladder::data::spearman({1, 2, 2, 3}, {1, 3, 2, 4}), 0.9486832980505138, 1e-12);
  // Monotone but non-linear: 1.
  EXPECT_NEAR(ladder::data::spearman({1, 2, 3, 4}, {1, 4, 9, 100}), 1.0, 1e-12);
}

TEST(EvaluateTask, ColaInvalidPredictionIsItsOwnClass) {
  // sklearn's matthews_corrcoef(targets, predictions) on the strings, as the authors: classes
  // 0, 1, "bad", "?". s = 5, c = 3 correct; t = (0: 2, 1: 3); p = (0: 1, 1: 2, bad: 1, ?: 1).
  // cov(t,p) = 3*5 - (1*2 + 2*3) = 7; s^2 - sum p^2 = 25 - 7 = 18; s^2 - sum t^2 = 25 - 13 = 12.
  // MCC = 7 / sqrt(18 * 12). (Mapping invalid answers to the other class would give 1/6.)
  const auto m = evaluate_task("cola", {"1", "1", "bad", "0", "?"}, {"1", "1", "1", "0", "0"});
  EXPECT_EQ(m.size(), 2u);
  EXPECT_NEAR(m.at("mcc"), 7.0 / std::sqrt(216.0), 1e-12);
  EXPECT_NEAR(m.at("score"), 7.0 / std::sqrt(216.0), 1e-12);
  // A model answering only an invalid string: one predicted class, MCC 0 (not -1).
  EXPECT_DOUBLE_EQ(evaluate_task("cola", {"x", "x", "x"}, {"1", "0", "1"}).at("mcc"), 0.0);
  // Invalid answers on the positives only: t = (0: 2, 1: 2), p = (0: 2, yes: 2), c = 2, s = 4:
  // (2*4 - 4) / sqrt((16 - 8) * (16 - 8)) = 0.5.
  EXPECT_NEAR(evaluate_task("cola", {"0", "0", "yes", "yes"}, {"0", "0", "1", "1"}).at("mcc"), 0.5, 1e-12);
}

TEST(EvaluateTask, PredictionsAndReferencesAreStripped) {
  // The authors' PostProcessor: pred.strip() and label.strip() before every metric.
  EXPECT_DOUBLE_EQ(evaluate_task("rte", {" 0", "1 \t", "\n1\r\n"}, {"0", "1", " 1 "}).at("accuracy"), 1.0);
  EXPECT_DOUBLE_EQ(evaluate_task("cola", {" 1", "0\n"}, {"1", "0"}).at("mcc"), 1.0);
  // Python's str.strip() also removes Unicode spaces (here U+00A0 and U+3000) and \x1c-\x1f.
  EXPECT_DOUBLE_EQ(evaluate_task("sst2", {"1\xC2\xA0", "\xE3\x80\x80" "0", "\x1f" "1"}, {"1", "0", "1"}).at("accuracy"),
                   1.0);
  EXPECT_DOUBLE_EQ(evaluate_task("mrpc", {" 1 "}, {"1"}).at("f1"), 1.0);
  // Inner spaces stay: "0 1" is not a label.
  EXPECT_DOUBLE_EQ(evaluate_task("rte", {"0 1"}, {"0"}).at("accuracy"), 0.0);
}

TEST(EvaluateTask, MrpcMeanOfAccuracyAndF1) {
  // accuracy 3/5; the invalid "x" (ref 0) becomes "1": tp 2, fp 1, fn 1 -> F1 2/3.
  const auto m = evaluate_task("mrpc", {"1", "1", "x", "0", "0"}, {"1", "1", "0", "0", "1"});
  EXPECT_NEAR(m.at("accuracy"), 0.6, 1e-12);
  EXPECT_NEAR(m.at("f1"), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.at("score"), (0.6 + 2.0 / 3.0) / 2.0, 1e-12);
  // An invalid prediction for a positive reference is a false negative: F1 0 here.
  EXPECT_DOUBLE_EQ(evaluate_task("qqp", {"yes"}, {"1"}).at("f1"), 0.0);
}

TEST(EvaluateTask, StsbUnparsableCountsAsMinusOne) {
  // string_to_float(s, default=-1.): p = {1, 2, -1, 4}, r = {1, 2, 3, 4}. Means 1.5 and 2.5;
  // sxy = 0.75 - 0.25 - 1.25 + 3.75 = 3, sxx = 13, syy = 5 -> Pearson 3 / sqrt(65);
  // ranks p {2, 3, 1, 4} vs r {1, 2, 3, 4}: d^2 sum 6 -> 1 - 6*6/(4*15) = 0.4.
  const auto m = evaluate_task("stsb", {"1.0", " 2.0", "abc", "4.0"}, {"1.0", "2.0", "3.0", "4.0"});
  const double p = 3.0 / std::sqrt(65.0);
  EXPECT_NEAR(m.at("pearson"), p, 1e-12);
  EXPECT_NEAR(m.at("spearman"), 0.4, 1e-12);
  EXPECT_NEAR(m.at("score"), (p + 0.4) / 2.0, 1e-12);
  // -1 ranks below -0.5 (0 would rank above it): p {-1, -0.5, 1, 2} is monotone in r -> 1.
  EXPECT_NEAR(evaluate_task("stsb", {"abc", "-0.5", "1", "2"}, {"0", "1", "2", "3"}).at("spearman"), 1.0, 1e-12);
  EXPECT_NEAR(evaluate_task("stsb", {"", "3.8 4", "1,5"}, {"1", "2", "3"}).at("pearson"), 0.0, 1e-12);  // all -1
  EXPECT_THROW(evaluate_task("stsb", {"1"}, {"one"}), ladder::FormatError);
}

TEST(EvaluateTask, StsbParsesAsPythonFloat) {
  // float("1_0") == 10, so p = {10, 2, 3} == r: both correlations 1.
  auto m = evaluate_task("stsb", {"1_0", "+2.", ".3e1"}, {"10", "2", "3"});
  EXPECT_NEAR(m.at("pearson"), 1.0, 1e-12);
  EXPECT_NEAR(m.at("spearman"), 1.0, 1e-12);
  // float("0x1p3") raises (strtod would read 8): p = {-1, 1, 2} vs r = {8, 1, 2}. Deviations
  // p {-5, 1, 4}/3, r {13, -8, -5}/3: sxy = -93/9, sxx = 42/9, syy = 258/9.
  EXPECT_NEAR(evaluate_task("stsb", {"0x1p3", "1", "2"}, {"8", "1", "2"}).at("pearson"), -93.0 / std::sqrt(42.0 * 258.0),
              1e-12);
  // "1__0" and "1_" are not Python floats either: -1.
  EXPECT_NEAR(evaluate_task("stsb", {"1__0", "1_", "2"}, {"0", "1", "2"}).at("pearson"), 0.8660254037844386, 1e-12);
  // float("nan") is NaN (the authors' scipy pearsonr would raise on it): both reported as 0.
  m = evaluate_task("stsb", {"nan", "1", "2"}, {"0.0", "1.0", "2.0"});
  EXPECT_DOUBLE_EQ(m.at("pearson"), 0.0);
  EXPECT_DOUBLE_EQ(m.at("spearman"), 0.0);
  // float("inf") (also "Infinity", "1e999"): Pearson 0 (scipy would raise); Spearman ranks it last:
  // ranks {3, 1, 2} vs {1, 2, 3} -> -0.5.
  for (const char* inf : {"inf", "Infinity", "1e999"}) {
    m = evaluate_task("stsb", {inf, "1", "2"}, {"0", "1", "2"});
    EXPECT_DOUBLE_EQ(m.at("pearson"), 0.0) << inf;
    EXPECT_NEAR(m.at("spearman"), -0.5, 1e-12) << inf;
  }
  EXPECT_NEAR(evaluate_task("stsb", {"-inf", "1", "2"}, {"0", "1", "2"}).at("spearman"), 1.0, 1e-12);
}

TEST(EvaluateTask, AccuracyTasksAndErrors) {
  const auto rte = evaluate_task("rte", {"0", "entailment", "1"}, {"0", "1", "0"});
  EXPECT_NEAR(rte.at("accuracy"), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(rte.at("score"), 1.0 / 3.0, 1e-12);
  EXPECT_EQ(rte.size(), 2u);
  EXPECT_DOUBLE_EQ(evaluate_task("mnli", {"0", "2", "1", "2"}, {"0", "1", "1", "2"}).at("score"), 0.75);
  EXPECT_THROW(evaluate_task("squad", {"a"}, {"a"}), ladder::UsageError);
  EXPECT_THROW(evaluate_task("rte", {"0"}, {"0", "1"}), ladder::Error);
  EXPECT_THROW(evaluate_task("rte", {"0"}, {"entailment"}), ladder::FormatError);  // reference not a label
}

}  // namespace
