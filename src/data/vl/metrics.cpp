#include "ladder/data/vl/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include "ladder/error.h"

namespace ladder::data {

namespace {

// Python's str.isspace for ASCII (\x1c-\x1f are whitespace to Python's split/strip too).
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::vector<std::string> split_on_space(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (is_space(c)) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// ---- VQA normalisation (the official evaluator's tables, transcribed) -------------------------

const std::map<std::string, std::string>& contractions() {
  // Keys with capitals ("Im", "Ive", "Id've") can never match after lowercasing; the official
  // table has them anyway and they are kept so the table reads the same.
  static const std::map<std::string, std::string> table = {
      {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
      {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
      {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
      {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"}, {"havent", "haven't"},
      {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"}, {"hes", "he's"}, {"howd", "how'd"},
      {"howll", "how'll"}, {"hows", "how's"}, {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"},
      {"Ive", "I've"}, {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"},
      {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"},
      {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"}, {"mightve", "might've"},
      {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"}, {"notve", "not've"},
      {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"},
      {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"}, {"she'dve", "she'd've"},
      {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
      {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
      {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
      {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
      {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
      {"somethingd", "something'd"}, {"somethingd've", "something'd've"},
      {"something'dve", "something'd've"}, {"somethingll", "something'll"}, {"thats", "that's"},
      {"thered", "there'd"}, {"thered've", "there'd've"}, {"there'dve", "there'd've"},
      {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
      {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"}, {"theyve", "they've"},
      {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"}, {"we'dve", "we'd've"},
      {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"},
      {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"}, {"whered", "where'd"},
      {"wheres", "where's"}, {"whereve", "where've"}, {"whod", "who'd"}, {"whod've", "who'd've"},
      {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"},
      {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"},
      {"wouldve", "would've"}, {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"},
      {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
      {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"},
      {"youd", "you'd"}, {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"},
      {"youre", "you're"}, {"youve", "you've"}};
  return table;
}

const std::map<std::string, std::string>& number_words() {
  static const std::map<std::string, std::string> table = {
      {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"}, {"four", "4"},
      {"five", "5"}, {"six", "6"}, {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"}};
  return table;
}

bool has_digit_comma_digit(const std::string& text) {
  for (std::size_t i = 1; i + 1 < text.size(); ++i)
    if (text[i] == ',' && is_digit(text[i - 1]) && is_digit(text[i + 1])) return true;
  return false;
}

std::string process_punctuation(const std::string& in) {
  static const char kPunctuation[] = {';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+',
                                      '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'};
  // The evaluator tests the *input* text for every mark, not the text as rewritten so far.
  const bool digit_comma_digit = has_digit_comma_digit(in);
  std::string out = in;
  for (char p : kPunctuation) {
    const std::string mark(1, p);
    const bool delete_it = in.find(mark + " ") != std::string::npos ||
                           in.find(" " + mark) != std::string::npos || digit_comma_digit;
    out = replace_all(out, mark, delete_it ? "" : " ");
  }
  // periodStrip "(?!<=\d)(\.)(?!\d)": its first group is a lookahead (a typo for a lookbehind)
  // that always holds before a '.', so this deletes each '.' not followed by a digit; the
  // lookahead reads the text before any deletion, as re.sub does. At most 32: see the header.
  std::string stripped;
  int deleted = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bool before_digit = i + 1 < out.size() && is_digit(out[i + 1]);
    if (out[i] == '.' && !before_digit && deleted < 32) {
      ++deleted;
      continue;
    }
    stripped += out[i];
  }
  return stripped;
}

std::string process_digit_article(const std::string& in) {
  std::string lowered;
  for (char c : in) lowered += lower(c);
  std::vector<std::string> words;
  for (std::string word : split_on_space(lowered)) {
    auto number = number_words().find(word);
    if (number != number_words().end()) word = number->second;
    if (word == "a" || word == "an" || word == "the") continue;
    words.push_back(word);
  }
  std::string out;
  for (std::string& word : words) {
    auto contraction = contractions().find(word);
    if (contraction != contractions().end()) word = contraction->second;
    out += (out.empty() ? "" : " ") + word;
  }
  return out;
}

// ---- caption tokens and n-grams ---------------------------------------------------------------

bool is_separator_mark(char c) {
  static const std::string kMarks = ".,?!:;\"`()[]{}";
  return kMarks.find(c) != std::string::npos;
}

void push_word(std::string word, std::vector<std::string>& tokens) {
  const auto first = word.find_first_not_of('\'');
  if (first == std::string::npos) return;  // only apostrophes
  word = word.substr(first, word.find_last_not_of('\'') - first + 1);
  if (word.find_first_not_of('-') == std::string::npos) return;  // -, --: PTB punctuation
  if (word.size() > 3 && word.compare(word.size() - 3, 3, "n't") == 0) {
    tokens.push_back(word.substr(0, word.size() - 3));
    tokens.push_back("n't");
    return;
  }
  for (const char* clitic : {"'s", "'re", "'ve", "'ll", "'d", "'m"}) {
    const std::string suffix = clitic;
    if (word.size() > suffix.size() && word.compare(word.size() - suffix.size(), suffix.size(), suffix) == 0) {
      tokens.push_back(word.substr(0, word.size() - suffix.size()));
      tokens.push_back(suffix);
      return;
    }
  }
  tokens.push_back(word);
}

using Ngram = std::string;  // words joined by ' ' (tokens never contain spaces)
using NgramCounts = std::unordered_map<Ngram, int>;

// Counts of all 1..4-grams, in the order pycocoevalcap's precook visits them.
NgramCounts ngram_counts(const std::vector<std::string>& words) {
  NgramCounts counts;
  for (std::size_t k = 1; k <= 4; ++k) {
    for (std::size_t i = 0; i + k <= words.size(); ++i) {
      Ngram gram = words[i];
      for (std::size_t j = 1; j < k; ++j) gram += " " + words[i + j];
      ++counts[gram];
    }
  }
  return counts;
}

int order_of(const Ngram& gram) { return 1 + static_cast<int>(std::count(gram.begin(), gram.end(), ' ')); }

void check_caption_inputs(const char* metric, const std::vector<std::string>& predictions,
                          const std::vector<std::vector<std::string>>& references) {
  if (predictions.size() != references.size())
    throw Error(expected_found(std::string(metric) + ": references", std::to_string(predictions.size()) +
                                   " lists (one per prediction)", std::to_string(references.size())));
  for (std::size_t i = 0; i < references.size(); ++i)
    if (references[i].empty()) throw Error(std::string(metric) + ": prediction " + std::to_string(i) + " has no references");
}

}  // namespace

std::string normalize_vqa_answer(const std::string& answer) {
  std::string text = answer;
  for (char& c : text)
    if (c == '\n' || c == '\t') c = ' ';
  const auto begin = std::find_if_not(text.begin(), text.end(), is_space);
  const auto end = std::find_if_not(text.rbegin(), text.rend(), is_space).base();
  text = begin < end ? std::string(begin, end) : std::string();
  text = process_digit_article(process_punctuation(text));
  text.erase(std::remove(text.begin(), text.end(), ','), text.end());
  return text;
}

double vqa_score(const std::string& prediction, const std::vector<std::pair<std::string, double>>& answers) {
  const std::string predicted = normalize_vqa_answer(prediction);
  double best = 0;
  bool found = false;
  for (const auto& [answer, weight] : answers) {
    if (normalize_vqa_answer(answer) != predicted) continue;
    best = found ? std::max(best, weight) : weight;
    found = true;
  }
  return best;
}

std::vector<std::string> caption_tokens(const std::string& text) {
  std::vector<std::string> tokens;
  std::string word;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = lower(text[i]);
    const bool between_digits = (c == '.' || c == ',') && i > 0 && i + 1 < text.size() &&
                                is_digit(text[i - 1]) && is_digit(text[i + 1]);
    if (is_space(c) || (is_separator_mark(c) && !between_digits)) {
      if (!word.empty()) push_word(std::move(word), tokens);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) push_word(std::move(word), tokens);
  return tokens;
}

double corpus_bleu4(const std::vector<std::string>& predictions, const std::vector<std::vector<std::string>>& references) {
  check_caption_inputs("BLEU-4", predictions, references);
  if (predictions.empty()) return 0;
  double correct[4] = {0, 0, 0, 0}, guess[4] = {0, 0, 0, 0};
  double test_length = 0, reference_length = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    const std::vector<std::string> words = caption_tokens(predictions[i]);
    const auto c = static_cast<long>(words.size());
    // Clipping: an n-gram counts at most as often as in the reference that has it most.
    NgramCounts max_reference_counts;
    long closest = -1;
    for (const std::string& reference : references[i]) {
      const std::vector<std::string> reference_words = caption_tokens(reference);
      const auto r = static_cast<long>(reference_words.size());
      // "closest": smallest |r - c|, ties to the shorter reference (Python's min over (diff, r)).
      if (closest < 0 || std::labs(r - c) < std::labs(closest - c) || (std::labs(r - c) == std::labs(closest - c) && r < closest))
        closest = r;
      for (const auto& [gram, count] : ngram_counts(reference_words))
        max_reference_counts[gram] = std::max(max_reference_counts[gram], count);
    }
    test_length += static_cast<double>(c);
    reference_length += static_cast<double>(closest);
    for (int k = 1; k <= 4; ++k) guess[k - 1] += static_cast<double>(std::max(0L, c - k + 1));
    for (const auto& [gram, count] : ngram_counts(words)) {
      auto it = max_reference_counts.find(gram);
      if (it != max_reference_counts.end()) correct[order_of(gram) - 1] += std::min(it->second, count);
    }
  }
  // pycocoevalcap's smoothing constants: tiny keeps a zero match count at ~0, small avoids 0/0.
  const double tiny = 1e-15, small = 1e-9;
  double product = 1;
  for (int k = 0; k < 4; ++k) product *= (correct[k] + tiny) / (guess[k] + small);
  double bleu = std::pow(product, 1.0 / 4);
  const double ratio = (test_length + tiny) / (reference_length + small);
  if (ratio < 1) bleu *= std::exp(1 - 1 / ratio);
  return bleu;
}

double cider_d(const std::vector<std::string>& predictions, const std::vector<std::vector<std::string>>& references) {
  check_caption_inputs("CIDEr-D", predictions, references);
  if (predictions.empty()) return 0;
  const double sigma = 6.0;
  std::vector<NgramCounts> tests;
  std::vector<std::vector<NgramCounts>> reference_counts(references.size());
  std::unordered_map<Ngram, double> document_frequency;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    tests.push_back(ngram_counts(caption_tokens(predictions[i])));
    std::set<Ngram> seen;
    for (const std::string& reference : references[i]) {
      reference_counts[i].push_back(ngram_counts(caption_tokens(reference)));
      for (const auto& entry : reference_counts[i].back()) seen.insert(entry.first);
    }
    for (const Ngram& gram : seen) document_frequency[gram] += 1;
  }
  const double log_images = std::log(static_cast<double>(predictions.size()));

  struct Vector {
    std::unordered_map<Ngram, double> weights[4];
    double norm[4] = {0, 0, 0, 0};
    double length = 0;  // pycocoevalcap's `length`: the number of bigrams (its `if n == 1`)
  };
  auto tf_idf = [&](const NgramCounts& counts) {
    Vector vector;
    for (const auto& [gram, term_frequency] : counts) {
      auto df = document_frequency.find(gram);
      const double idf = log_images - std::log(std::max(1.0, df == document_frequency.end() ? 0.0 : df->second));
      const int n = order_of(gram) - 1;
      const double weight = term_frequency * idf;
      vector.weights[n][gram] = weight;
      vector.norm[n] += weight * weight;
      if (n == 1) vector.length += term_frequency;
    }
    for (double& norm : vector.norm) norm = std::sqrt(norm);
    return vector;
  };

  double total = 0;
  for (std::size_t i = 0; i < tests.size(); ++i) {
    const Vector hypothesis = tf_idf(tests[i]);
    double score = 0;  // summed over n and references
    for (const NgramCounts& counts : reference_counts[i]) {
      const Vector reference = tf_idf(counts);
      const double delta = hypothesis.length - reference.length;
      const double penalty = std::exp(-(delta * delta) / (2 * sigma * sigma));
      for (int n = 0; n < 4; ++n) {
        double value = 0;
        for (const auto& [gram, weight] : hypothesis.weights[n]) {
          auto it = reference.weights[n].find(gram);
          if (it != reference.weights[n].end()) value += std::min(weight, it->second) * it->second;
        }
        if (hypothesis.norm[n] != 0 && reference.norm[n] != 0) value /= hypothesis.norm[n] * reference.norm[n];
        score += value * penalty;
      }
    }
    total += score / 4 / static_cast<double>(reference_counts[i].size()) * 10.0;
  }
  return total / static_cast<double>(tests.size());
}

}  // namespace ladder::data
