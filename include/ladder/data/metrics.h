#pragma once
// Evaluation metrics on decoded strings. Values are fractions (accuracy 0.85, not 85); the
// paper's tables show them x100. All functions throw ladder::Error when the two vectors
// differ in length or are empty.
#include <map>
#include <string>
#include <vector>

namespace ladder::data {

// Fraction of exact string matches.
double accuracy(const std::vector<std::string>& predictions, const std::vector<std::string>& references);

// Binary F1 of the `positive` class: a string counts as positive iff it equals `positive`.
// F1 = 2TP / (2TP + FP + FN), and 0 when TP == 0 (this covers "no positive references and
// no positive predictions", where sklearn also returns 0 under zero_division).
double binary_f1(const std::vector<std::string>& predictions, const std::vector<std::string>& references,
                 const std::string& positive = "1");

// Macro F1: mean over `labels` of one-vs-rest F1 (each 0 when its TP == 0). `labels` empty:
// the sorted unique references. Predictions outside `labels` are wrong for their reference's
// class and are nobody's false positive.
double macro_f1(const std::vector<std::string>& predictions, const std::vector<std::string>& references,
                const std::vector<std::string>& labels = {});

// Matthews correlation over the confusion matrix of all classes seen (sklearn's multiclass
// formula; the usual binary MCC for two classes). 0 when the denominator is 0, as sklearn.
double matthews_corrcoef(const std::vector<std::string>& predictions, const std::vector<std::string>& references);

// Pearson correlation; 0 when either side has zero variance (scipy returns nan there).
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman correlation: Pearson of the ranks, tied values sharing their average rank.
double spearman(const std::vector<double>& x, const std::vector<double>& y);
// 1-based ranks, ties averaged: {10, 20, 20, 30} -> {1, 2.5, 2.5, 4}.
std::vector<double> average_ranks(const std::vector<double>& values);

// The task's metrics (glue_task(task).metrics) plus "score", the paper's per-task number:
// cola mcc; mrpc/qqp mean(accuracy, f1); stsb mean(pearson, spearman); others accuracy.
// A prediction that is not a valid label is wrong: accuracy counts it as a miss, and for
// F1/MCC it is replaced by the opposite of its reference's class ("0" <-> "1").
// stsb: predictions are parsed as numbers (leading/trailing spaces allowed); an unparsable or
// non-finite prediction counts as 0.0. References must parse (FormatError otherwise).
// Unknown task -> UsageError.
std::map<std::string, double> evaluate_task(const std::string& task, const std::vector<std::string>& predictions,
                                            const std::vector<std::string>& references);

// Custom classification: {"accuracy", "macro_f1", "score" = macro_f1} over `labels` (the
// data set's label set; predictions outside it are wrong). Macro F1 is the score because
// custom label sets are often imbalanced, where accuracy hides a neglected class.
std::map<std::string, double> evaluate_classification(const std::vector<std::string>& predictions,
                                                      const std::vector<std::string>& references,
                                                      const std::vector<std::string>& labels);

}  // namespace ladder::data
