// libFuzzer target: vision-language metrics (include/ladder/data/vl/metrics.h). The input is
// split on NUL bytes into images; each image's text on '\n' into a prediction (its first line)
// and references (the other lines, possibly none). Every string goes through
// normalize_vqa_answer, caption_tokens and vqa_score; the whole corpus through corpus_bleu4 and
// cider_d, once as given and once with images lacking references given their prediction as
// the only reference.
//
// Invariants: BLEU-4 in [0, 1], CIDEr-D in [0, 10] (a clipped cosine <= 1 times 10), both
// finite; the only exception is ladder::Error, and only when an image has no reference;
// normalised answers hold no ASCII capitals, have no ',' and single spaces only;
// vqa_score of an answer against its own label is that label's weight; caption tokens are
// non-empty and hold no whitespace.
#include <cmath>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "fuzz_common.h"
#include "ladder/data/vl/metrics.h"

namespace {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == separator) {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); }

void check_normalized(const std::string& input, const std::string& normalized) {
  const std::string where = "normalize_vqa_answer(" + nlohmann::json(input).dump(-1, ' ', true,
                                                                         nlohmann::json::error_handler_t::replace) + ")";
  if (!normalized.empty() && (normalized.front() == ' ' || normalized.back() == ' '))
    ladder_fuzz::fail(where + ": leading or trailing space");
  for (std::size_t i = 0; i < normalized.size(); ++i) {
    const char c = normalized[i];
    if (c == ',') ladder_fuzz::fail(where + ": ',' left");
    if (c >= 'A' && c <= 'Z') ladder_fuzz::fail(where + ": capital left");
    if (is_space(c) && c != ' ') ladder_fuzz::fail(where + ": whitespace other than ' '");
    if (c == ' ' && i > 0 && normalized[i - 1] == ' ') ladder_fuzz::fail(where + ": double space");
  }
}

template <typename Metric>
double guarded_metric(const char* name, Metric metric, bool may_throw, bool& threw) {
  threw = false;
  try {
    return metric();
  } catch (const ladder::Error&) {
    if (!may_throw) ladder_fuzz::fail(std::string(name) + " threw ladder::Error with a reference for every image");
    threw = true;
  } catch (const std::exception& error) {
    ladder_fuzz::fail(std::string(name) + " threw " + typeid(error).name() + ": " + error.what());
  }
  return 0;
}

void check_corpus(const std::vector<std::string>& predictions, const std::vector<std::vector<std::string>>& references) {
  bool missing = false;
  for (const auto& list : references) missing = missing || list.empty();
  bool threw = false;
  const double bleu = guarded_metric("corpus_bleu4", [&] { return ladder::data::corpus_bleu4(predictions, references); },
                                     missing, threw);
  if (missing && !threw) ladder_fuzz::fail("corpus_bleu4 accepted an image without references");
  if (!threw && !(std::isfinite(bleu) && bleu >= 0 && bleu <= 1 + 1e-9))
    ladder_fuzz::fail("corpus_bleu4 = " + std::to_string(bleu) + ", outside [0, 1]");
  const double cider = guarded_metric("cider_d", [&] { return ladder::data::cider_d(predictions, references); },
                                      missing, threw);
  if (missing && !threw) ladder_fuzz::fail("cider_d accepted an image without references");
  if (!threw && !(std::isfinite(cider) && cider >= 0 && cider <= 10 + 1e-9))
    ladder_fuzz::fail("cider_d = " + std::to_string(cider) + ", outside [0, 10]");
  ladder_fuzz::consume(static_cast<std::size_t>(bleu * 1000 + cider * 1000));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> predictions;
  std::vector<std::vector<std::string>> references;
  std::size_t checksum = 0;
  for (const std::string& image : split(text, '\0')) {
    std::vector<std::string> lines = split(image, '\n');
    predictions.push_back(lines.front());
    references.emplace_back(lines.begin() + 1, lines.end());
  }

  for (std::size_t i = 0; i < predictions.size(); ++i) {
    std::vector<std::pair<std::string, double>> answers;
    for (const std::string& string : references[i]) {
      // A weight per answer, from its length: 0, 0.3, 0.6, 0.9 or 1 as in VQA's soft labels.
      answers.emplace_back(string, std::min(1.0, 0.3 * static_cast<double>(string.size() % 5)));
    }
    {
      const std::string normalized = ladder::data::normalize_vqa_answer(predictions[i]);
      check_normalized(predictions[i], normalized);
      for (const std::string& token : ladder::data::caption_tokens(predictions[i])) {
        if (token.empty()) ladder_fuzz::fail("caption_tokens gave an empty token");
        for (char c : token)
          if (is_space(c)) ladder_fuzz::fail("caption_tokens gave a token with whitespace");
        checksum += token.size();
      }
      checksum += normalized.size();
    }
    // vqa_score normalises every label key: quadratic, so only the first answers are checked.
    for (std::size_t a = 0; a < answers.size() && a < 16; ++a) {
      const auto& [answer, weight] = answers[a];
      const std::string normalized = ladder::data::normalize_vqa_answer(answer);
      check_normalized(answer, normalized);
      // Its own label: the weight itself (the highest weight among keys normalising alike).
      double expected = weight;
      for (const auto& [other, other_weight] : answers)
        if (other_weight > expected && ladder::data::normalize_vqa_answer(other) == normalized) expected = other_weight;
      const double own = ladder::data::vqa_score(answer, answers);
      if (own != expected) ladder_fuzz::fail("vqa_score of an answer against its own label is not its weight");
      checksum += ladder::data::caption_tokens(answer).size();
    }
    const double score = ladder::data::vqa_score(predictions[i], answers);
    if (!(score >= 0 && score <= 1)) ladder_fuzz::fail("vqa_score outside [0, 1]");
  }

  check_corpus(predictions, references);
  for (std::size_t i = 0; i < references.size(); ++i)
    if (references[i].empty()) references[i].push_back(predictions[i]);
  check_corpus(predictions, references);
  ladder_fuzz::consume(checksum);
  return 0;
}
