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
// As the LST authors' seq2seq/metrics/metrics.py with data/postprocessors.py:
//   - predictions and references are first stripped of surrounding whitespace (Python's
//     str.strip(), their PostProcessor);
//   - accuracy: exact string match, so a prediction that is not a label is wrong;
//   - mrpc/qqp F1 (f1_score_with_invalid): a prediction other than "0"/"1" is replaced by the
//     opposite of its reference ("0" <-> "1"), so it is a false positive or false negative;
//   - cola MCC (sklearn.metrics.matthews_corrcoef(targets, predictions) on the strings): an
//     invalid prediction is a class of its own, not mapped to the other label; a model that
//     answers only one (invalid or valid) string scores 0;
//   - stsb: strings become numbers as Python's float() (string_to_float): an unparsable
//     prediction counts as -1.0; a NaN correlation (constant input) is reported as 0.
//     A prediction float() reads as NaN or an infinity ("nan", "inf", "1e999") makes the
//     authors' scipy.stats.pearsonr raise ValueError (scipy.linalg.norm rejects non-finite
//     input), which would stop their evaluation; here it makes Pearson 0, and Spearman 0 for
//     a NaN, while an infinity is ranked (last, or first for -inf) as spearmanr ranks it.
//     References must be finite numbers (FormatError otherwise).
// References of classification tasks must be labels of the task (FormatError otherwise).
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
