#include "ladder/data/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <set>

#include "ladder/data/glue.h"
#include "ladder/error.h"

namespace ladder::data {

namespace {

template <typename A, typename B>
void check_sizes(const char* metric, const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) {
    throw Error(expected_found(std::string(metric) + ": predictions vs references", std::to_string(b.size()) +
                               " predictions (one per reference)", std::to_string(a.size())));
  }
  if (a.empty()) throw Error(std::string(metric) + ": no examples to evaluate");
}

double f1_from(double tp, double fp, double fn) { return tp == 0.0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn); }

// Returns false for anything that is not one finite number (spaces around allowed).
bool parse_number(const std::string& text, double& value) {
  const std::size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return false;
  const std::size_t end = text.find_last_not_of(" \t\r\n") + 1;
  const std::string trimmed = text.substr(begin, end - begin);
  errno = 0;
  char* stop = nullptr;
  value = std::strtod(trimmed.c_str(), &stop);
  return errno == 0 && stop == trimmed.c_str() + trimmed.size() && std::isfinite(value);
}

}  // namespace

double accuracy(const std::vector<std::string>& predictions, const std::vector<std::string>& references) {
  check_sizes("accuracy", predictions, references);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) correct += predictions[i] == references[i];
  return static_cast<double>(correct) / static_cast<double>(predictions.size());
}

double binary_f1(const std::vector<std::string>& predictions, const std::vector<std::string>& references,
                 const std::string& positive) {
  check_sizes("binary_f1", predictions, references);
  double tp = 0, fp = 0, fn = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    const bool p = predictions[i] == positive, r = references[i] == positive;
    tp += p && r;
    fp += p && !r;
    fn += !p && r;
  }
  return f1_from(tp, fp, fn);
}

double macro_f1(const std::vector<std::string>& predictions, const std::vector<std::string>& references,
                const std::vector<std::string>& labels) {
  check_sizes("macro_f1", predictions, references);
  std::vector<std::string> classes = labels;
  if (classes.empty()) {
    const std::set<std::string> unique(references.begin(), references.end());
    classes.assign(unique.begin(), unique.end());
  }
  double total = 0.0;
  for (const std::string& c : classes) total += binary_f1(predictions, references, c);
  return total / static_cast<double>(classes.size());
}

double matthews_corrcoef(const std::vector<std::string>& predictions, const std::vector<std::string>& references) {
  check_sizes("matthews_corrcoef", predictions, references);
  // sklearn: cov(y,p) = c*s - sum_k p_k t_k, cov(y,y) = s^2 - sum t_k^2, cov(p,p) = s^2 - sum p_k^2,
  // with t_k / p_k the true / predicted counts of class k, c correct, s samples.
  std::set<std::string> classes(references.begin(), references.end());
  classes.insert(predictions.begin(), predictions.end());
  const double s = static_cast<double>(predictions.size());
  double c = 0.0;
  for (std::size_t i = 0; i < predictions.size(); ++i) c += predictions[i] == references[i];
  double pt = 0.0, pp = 0.0, tt = 0.0;
  for (const std::string& k : classes) {
    const double t_k = static_cast<double>(std::count(references.begin(), references.end(), k));
    const double p_k = static_cast<double>(std::count(predictions.begin(), predictions.end(), k));
    pt += p_k * t_k;
    pp += p_k * p_k;
    tt += t_k * t_k;
  }
  const double denominator = (s * s - pp) * (s * s - tt);
  if (denominator == 0.0) return 0.0;
  return (c * s - pt) / std::sqrt(denominator);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes("pearson", x, y);
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0.0 || syy == 0.0) return 0.0;
  // Rounding can push |r| a hair past 1 for perfectly correlated data.
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;  // mean of i+1..j+1
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes("spearman", x, y);
  return pearson(average_ranks(x), average_ranks(y));
}

std::map<std::string, double> evaluate_task(const std::string& task_name, const std::vector<std::string>& predictions,
                                            const std::vector<std::string>& references) {
  const GlueTask& task = glue_task(task_name);
  check_sizes(("evaluate_task(" + task.name + ")").c_str(), predictions, references);
  std::map<std::string, double> out;
  if (task.name == "stsb") {
    std::vector<double> p(predictions.size()), r(references.size());
    for (std::size_t i = 0; i < references.size(); ++i) {
      if (!parse_number(references[i], r[i])) {
        throw FormatError(expected_found("stsb reference " + std::to_string(i), "a number", "'" + references[i] + "'"));
      }
      if (!parse_number(predictions[i], p[i])) p[i] = 0.0;
    }
    out["pearson"] = pearson(p, r);
    out["spearman"] = spearman(p, r);
    out["score"] = (out["pearson"] + out["spearman"]) / 2.0;
    return out;
  }
  const std::set<std::string> valid(task.labels.begin(), task.labels.end());
  for (const std::string& reference : references) {
    if (valid.count(reference) == 0) {
      throw FormatError(expected_found(task.name + " reference", "a valid label", "'" + reference + "'"));
    }
  }
  // For F1/MCC an invalid prediction must still be an error, so it becomes the other class.
  std::vector<std::string> cleaned = predictions;
  if (task.labels.size() == 2) {
    for (std::size_t i = 0; i < cleaned.size(); ++i) {
      if (valid.count(cleaned[i]) == 0) cleaned[i] = references[i] == task.labels[0] ? task.labels[1] : task.labels[0];
    }
  }
  const double acc = accuracy(predictions, references);
  if (task.name == "cola") {
    out["mcc"] = matthews_corrcoef(cleaned, references);
    out["score"] = out["mcc"];
  } else if (task.name == "mrpc" || task.name == "qqp") {
    out["accuracy"] = acc;
    out["f1"] = binary_f1(cleaned, references, "1");
    out["score"] = (acc + out["f1"]) / 2.0;
  } else {
    out["accuracy"] = acc;
    out["score"] = acc;
  }
  return out;
}

std::map<std::string, double> evaluate_classification(const std::vector<std::string>& predictions,
                                                      const std::vector<std::string>& references,
                                                      const std::vector<std::string>& labels) {
  std::map<std::string, double> out;
  out["accuracy"] = accuracy(predictions, references);
  out["macro_f1"] = macro_f1(predictions, references, labels);
  out["score"] = out["macro_f1"];
  return out;
}

}  // namespace ladder::data
