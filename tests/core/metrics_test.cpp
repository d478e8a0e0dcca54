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

TEST(EvaluateTask, ColaInvalidPredictionIsOppositeClass) {
  // Cleaned predictions {1, 1, 0, 0, 1}: tp 2, fn 1, tn 1, fp 1 -> (2 - 1) / sqrt(3*3*2*2) = 1/6.
  const auto m = evaluate_task("cola", {"1", "1", "bad", "0", "?"}, {"1", "1", "1", "0", "0"});
  EXPECT_EQ(m.size(), 2u);
  EXPECT_NEAR(m.at("mcc"), 1.0 / 6.0, 1e-12);
  EXPECT_NEAR(m.at("score"), 1.0 / 6.0, 1e-12);
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

TEST(EvaluateTask, StsbUnparsableCountsAsZero) {
  // p = {1, 2, 0, 4}, r = {1, 2, 3, 4}: Pearson 3.5 / sqrt(8.75 * 5);
  // ranks p {2, 3, 1, 4} vs r {1, 2, 3, 4}: d^2 sum 6 -> 1 - 6*6/(4*15) = 0.4.
  const auto m = evaluate_task("stsb", {"1.0", " 2.0", "abc", "4.0"}, {"1.0", "2.0", "3.0", "4.0"});
  const double p = 3.5 / std::sqrt(8.75 * 5.0);
  EXPECT_NEAR(m.at("pearson"), p, 1e-12);
  EXPECT_NEAR(m.at("spearman"), 0.4, 1e-12);
  EXPECT_NEAR(m.at("score"), (p + 0.4) / 2.0, 1e-12);
  EXPECT_NEAR(evaluate_task("stsb", {"nan", "1", "2"}, {"0.0", "1.0", "2.0"}).at("pearson"), 1.0, 1e-12);
  EXPECT_THROW(evaluate_task("stsb", {"1"}, {"one"}), ladder::FormatError);
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
