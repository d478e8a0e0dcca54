#include "ladder/data/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <set>
#include <string>

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

// Python's str.strip(): removes the characters str.isspace() accepts from both ends of UTF-8
// text (ASCII \t \n \v \f \r, \x1c-\x1f and space, and the Unicode spaces below).
std::string python_strip(const std::string& text) {
  static const char* const kUnicodeSpaces[] = {
      "\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81", "\xE2\x80\x82",
      "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86", "\xE2\x80\x87", "\xE2\x80\x88",
      "\xE2\x80\x89", "\xE2\x80\x8A", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F",
      "\xE3\x80\x80"};
  auto ascii_space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); };
  std::size_t begin = 0, end = text.size();
  for (bool more = true; more && begin < end;) {
    more = false;
    if (ascii_space(text[begin])) {
      ++begin, more = true;
      continue;
    }
    for (const char* space : kUnicodeSpaces) {
      const std::size_t n = std::char_traits<char>::length(space);
      if (end - begin >= n && text.compare(begin, n, space) == 0) {
        begin += n, more = true;
        break;
      }
    }
  }
  for (bool more = true; more && begin < end;) {
    more = false;
    if (ascii_space(text[end - 1])) {
      --end, more = true;
      continue;
    }
    for (const char* space : kUnicodeSpaces) {
      const std::size_t n = std::char_traits<char>::length(space);
      if (end - begin >= n && text.compare(end - n, n, space) == 0) {
        end -= n, more = true;
        break;
      }
    }
  }
  return text.substr(begin, end - begin);
}

// Python's float(text) for ASCII text: surrounding whitespace allowed; [sign] then digits with
// single underscores between digits, an optional point and exponent, or inf / infinity / nan
// (any case). False where float() raises ValueError (hex, "1,5", "", "3.8 4"). An overflowing
// literal ("1e999") is +-inf, as in Python. Non-ASCII digits, which Python also accepts, fail.
bool parse_python_float(const std::string& raw, double& value) {
  const std::string text = python_strip(raw);
  std::size_t i = 0;
  const std::size_t n = text.size();
  std::string clean;  // text without underscores, for strtod
  if (i < n && (text[i] == '+' || text[i] == '-')) clean += text[i++];
  std::string word = text.substr(i);
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (word == "inf" || word == "infinity" || word == "nan") {
    value = word == "nan" ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    if (!clean.empty() && clean[0] == '-') value = -value;
    return true;
  }
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  // digitpart ::= digit (["_"] digit)*; returns the number of digits read.
  auto digitpart = [&]() {
    std::size_t digits = 0;
    while (i < n && is_digit(text[i])) {
      clean += text[i++];
      ++digits;
      if (i + 1 < n && text[i] == '_' && is_digit(text[i + 1])) ++i;
    }
    return digits;
  };
  std::size_t mantissa = digitpart();
  if (i < n && text[i] == '.') {
    clean += text[i++];
    mantissa += digitpart();
  }
  if (mantissa == 0) return false;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    clean += text[i++];
    if (i < n && (text[i] == '+' || text[i] == '-')) clean += text[i++];
    if (digitpart() == 0) return false;
  }
  if (i != n) return false;
  value = std::strtod(clean.c_str(), nullptr);  // overflow gives +-HUGE_VAL = +-inf
  return true;
}

bool any_nan(const std::vector<double>& values) {
  return std::any_of(values.begin(), values.end(), [](double v) { return std::isnan(v); });
}

bool all_finite(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
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

std::map<std::string, double> evaluate_task(const std::string& task_name,
                                            const std::vector<std::string>& raw_predictions,
                                            const std::vector<std::string>& raw_references) {
  const GlueTask& task = glue_task(task_name);
  check_sizes(("evaluate_task(" + task.name + ")").c_str(), raw_predictions, raw_references);
  // The authors' PostProcessor strips decoded predictions and labels before any metric.
  std::vector<std::string> predictions, references;
  for (const std::string& p : raw_predictions) predictions.push_back(python_strip(p));
  for (const std::string& r : raw_references) references.push_back(python_strip(r));
  std::map<std::string, double> out;
  if (task.name == "stsb") {
    // string_to_float(s, default=-1.): float(s), or -1 when float() raises. Non-finite
    // predictions, on which the authors' scipy pearsonr raises, give 0 (see metrics.h).
    std::vector<double> p(predictions.size()), r(references.size());
    for (std::size_t i = 0; i < references.size(); ++i) {
      if (!parse_python_float(references[i], r[i]) || !std::isfinite(r[i])) {
        throw FormatError(
            expected_found("stsb reference " + std::to_string(i), "a number", "'" + references[i] + "'"));
      }
      if (!parse_python_float(predictions[i], p[i])) p[i] = -1.0;
    }
    out["pearson"] = all_finite(p) ? pearson(p, r) : 0.0;
    out["spearman"] = any_nan(p) ? 0.0 : spearman(p, r);
    out["score"] = (out["pearson"] + out["spearman"]) / 2.0;
    return out;
  }
  const std::set<std::string> valid(task.labels.begin(), task.labels.end());
  for (const std::string& reference : references) {
    if (valid.count(reference) == 0) {
      throw FormatError(expected_found(task.name + " reference", "a valid label", "'" + reference + "'"));
    }
  }
  const double acc = accuracy(predictions, references);
  if (task.name == "cola") {
    // sklearn.metrics.matthews_corrcoef on the strings: an invalid prediction is a class of its own.
    out["mcc"] = matthews_corrcoef(predictions, references);
    out["score"] = out["mcc"];
  } else if (task.name == "mrpc" || task.name == "qqp") {
    // f1_score_with_invalid: a prediction other than "0"/"1" becomes the opposite of its target.
    std::vector<std::string> cleaned = predictions;
    for (std::size_t i = 0; i < cleaned.size(); ++i) {
      if (cleaned[i] != "0" && cleaned[i] != "1") cleaned[i] = references[i] == "1" ? "0" : "1";
    }
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
