#include "ladder/tokenizer/byte_bpe_tokenizer.h"

#include <algorithm>
#include <optional>
#include <limits>
#include <map>
#include <unordered_map>

#include "byte_level.h"
#include "pair_merge.h"
#include "piece_decoder.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "utf8.h"

#ifdef LADDER_HAS_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif
#ifdef LADDER_HAS_UTF8PROC
#include <cstdlib>

#include <utf8proc.h>
#endif

namespace ladder {
namespace {

#ifdef LADDER_HAS_PCRE2
// GPT-2's pattern, what ByteLevel's use_regex splits by.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class Regex {
 public:
  Regex(const std::string& pattern, const std::string& source) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &error,
                          &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      throw FormatError(source + ": pre-tokenizer regex does not compile at offset " + std::to_string(offset) + ": " +
                        reinterpret_cast<const char*>(message));
    }
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Splits `text` into the matches and the gaps between them, in order (Split "Isolated").
  std::vector<std::string> isolate(const std::string& text) const {
    std::vector<std::string> out;
    size_t gap_begin = 0, pos = 0;
    // Match data is per call: the tokenizer is shared across threads.
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
    while (pos <= text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, PCRE2_NO_UTF_CHECK,
                                 data, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
      const size_t begin = ovector[0], end = ovector[1];
      if (end == begin) {  // an empty match consumes nothing: step over one character
        pos = begin + std::max<size_t>(1, begin < text.size() ? tokenizer::utf8::char_length(text[begin]) : 1);
        continue;
      }
      if (begin > gap_begin) out.push_back(text.substr(gap_begin, begin - gap_begin));
      out.push_back(text.substr(begin, end - begin));
      gap_begin = pos = end;
    }
    pcre2_match_data_free(data);
    if (gap_begin < text.size()) out.push_back(text.substr(gap_begin));
    return out;
  }

 private:
  pcre2_code* code_ = nullptr;
};
#else
class Regex {
 public:
  Regex(const std::string&, const std::string& source) {
    throw FormatError(source + ": reading tokenizer.json needs PCRE2, which this build of ladder lacks (install "
                               "libpcre2-dev and rebuild)");
  }
  std::vector<std::string> isolate(const std::string&) const { return {}; }
};
#endif

struct PreTokenizerStep {
  std::shared_ptr<Regex> split;  // Split (Isolated), Digits, or ByteLevel's GPT-2 pattern
  bool add_prefix_space = false;
};

std::string pair_key(const std::string& left, const std::string& right) { return left + '\x01' + right; }

}  // namespace

struct ByteLevelBpeTokenizer::Impl {
  std::string source;
  bool nfc = false;  // the NFC normalizer (Qwen2)
  // Llama 2's style (sentencepiece converted): spaces as '▁' with one in front, the whole
  // text one word, characters outside the vocabulary as <0xHH> byte tokens.
  bool metaspace = false;
  bool byte_fallback = false;
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::string> id_to_token;  // "" where no token has the id
  std::unordered_map<std::string, int64_t> merge_rank;  // pair_key -> rank
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> merge_by_ids;  // id pair_key -> (rank, merged id)
  bool ignore_merges = false;
  int64_t unk_id = -1;
  std::vector<PreTokenizerStep> steps;
  struct Added {
    std::string content;
    int64_t id;
    bool special;
  };
  std::vector<Added> added;
  std::vector<bool> is_special;       // by id
  std::vector<int64_t> prefix_ids;    // the post-processor's tokens before the text
  std::vector<int64_t> suffix_ids;    // and after it

  void bpe(const std::string& piece, std::vector<int64_t>& ids, std::vector<std::string>* tokens) const;
  void metaspace_bpe(const std::string& text, std::vector<int64_t>& ids, std::vector<std::string>* tokens) const;
  void encode_plain(const std::string& text, std::vector<int64_t>& ids, std::vector<std::string>* tokens) const;
  void encode(const std::string& text, bool add_special_tokens, std::vector<int64_t>& ids,
              std::vector<std::string>* tokens) const;
};

namespace {

[[noreturn]] void unsupported(const std::string& source, const std::string& what) {
  throw FormatError(source + ": " + what + " is not supported (ladder reads byte-level BPE tokenizers: the NFC "
                                           "normalizer, Split/Digits/ByteLevel pre-tokenizers, BPE, TemplateProcessing, "
                                           "ByteLevel decoder; and Llama 2's: Prepend/Replace '\u2581' normalizer, BPE "
                                           "with byte fallback, its Replace/ByteFallback/Fuse/Strip decoder)");
}

const std::string kSpaceSymbol(tokenizer::utf8::kSpaceSymbol);

bool is_replace(const nlohmann::json& step, const std::string& from, const std::string& to) {
  return step.value("type", std::string()) == "Replace" && step.contains("pattern") && step["pattern"].is_object() &&
         step["pattern"].value("String", std::string()) == from && step.value("content", std::string()) == to;
}

// Llama 2's normalizer: Prepend '▁', then Replace ' ' by '▁'.
bool is_metaspace_normalizer(const nlohmann::json& n) {
  if (n.value("type", std::string()) != "Sequence" || !n.contains("normalizers")) return false;
  const nlohmann::json& steps = n["normalizers"];
  return steps.is_array() && steps.size() == 2 && steps[0].value("type", std::string()) == "Prepend" &&
         steps[0].value("prepend", std::string()) == kSpaceSymbol && is_replace(steps[1], " ", kSpaceSymbol);
}

// Llama 2's decoder: Replace '▁' by ' ', ByteFallback, Fuse, Strip one leading space.
bool is_metaspace_decoder(const nlohmann::json& d) {
  if (d.value("type", std::string()) != "Sequence" || !d.contains("decoders") || !d["decoders"].is_array()) return false;
  const nlohmann::json& steps = d["decoders"];
  return steps.size() == 4 && is_replace(steps[0], kSpaceSymbol, " ") && steps[1].value("type", std::string()) == "ByteFallback" &&
         steps[2].value("type", std::string()) == "Fuse" && steps[3].value("type", std::string()) == "Strip" &&
         steps[3].value("content", std::string()) == " " && steps[3].value("start", -1) == 1 && steps[3].value("stop", -1) == 0;
}

std::string id_pair_key(int64_t left, int64_t right) { return std::to_string(left) + ' ' + std::to_string(right); }

// Unicode canonical composition, as the NFC normalizer of Hugging Face's tokenizers applies it
// to the text between added tokens. `text` is valid UTF-8 (utf8_lossy ran first).
std::string nfc_normalized(const std::string& text) {
#ifdef LADDER_HAS_UTF8PROC
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                   &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw Error(std::string("NFC normalisation: ") + utf8proc_errmsg(n));
  std::string normalized(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return normalized;
#else
  throw Error("internal: NFC normalisation without utf8proc");
#endif
}

void read_pre_tokenizer(const nlohmann::json& p, const std::string& source, std::vector<PreTokenizerStep>& steps,
                        bool& byte_level) {
  if (p.is_null()) return;
  const std::string type = json_field<std::string>(p, "type", source);
  if (type == "Sequence") {
    for (const auto& item : p.at("pretokenizers")) read_pre_tokenizer(item, source, steps, byte_level);
  } else if (type == "Split") {
    const std::string behavior = json_field<std::string>(p, "behavior", source);
    if (behavior != "Isolated") unsupported(source, "Split behavior \"" + behavior + "\"");
    if (p.value("invert", false)) unsupported(source, "an inverted Split");
    const nlohmann::json& pattern = p.at("pattern");
    if (!pattern.contains("Regex") && !pattern.contains("String")) unsupported(source, "a Split pattern " + pattern.dump());
    // A String pattern matches literally.
    const std::string regex = pattern.contains("Regex") ? pattern["Regex"].get<std::string>()
                                                        : "\\Q" + pattern["String"].get<std::string>() + "\\E";
    steps.push_back({std::make_shared<Regex>(regex, source), false});
  } else if (type == "Digits") {
    steps.push_back({std::make_shared<Regex>(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)", source), false});
  } else if (type == "ByteLevel") {
    byte_level = true;
    PreTokenizerStep step;
    step.add_prefix_space = p.value("add_prefix_space", false);
    if (p.value("use_regex", true)) step.split = std::make_shared<Regex>(kGpt2Pattern, source);
    steps.push_back(step);
  } else {
    unsupported(source, "pre-tokenizer \"" + type + "\"");
  }
}

// The ids the post-processor puts before and after a single text.
void read_post_processor(const nlohmann::json& p, const std::string& source, std::vector<int64_t>& prefix,
                         std::vector<int64_t>& suffix) {
  if (p.is_null()) return;
  const std::string type = json_field<std::string>(p, "type", source);
  if (type == "Sequence") {
    for (const auto& item : p.at("processors")) read_post_processor(item, source, prefix, suffix);
  } else if (type == "ByteLevel") {
    // Offsets only.
  } else if (type == "TemplateProcessing") {
    const nlohmann::json& specials = p.at("special_tokens");
    bool after_text = false;
    for (const auto& item : p.at("single")) {
      if (item.contains("Sequence")) {
        after_text = true;
        continue;
      }
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      if (!specials.contains(name)) throw FormatError(source + ": post_processor names \"" + name + "\" but lists no ids for it");
      for (const auto& id : specials[name].at("ids")) (after_text ? suffix : prefix).push_back(id.get<int64_t>());
    }
  } else {
    unsupported(source, "post-processor \"" + type + "\"");
  }
}

}  // namespace

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

bool ByteLevelBpeTokenizer::available() {
#ifdef LADDER_HAS_PCRE2
  return true;
#else
  return false;
#endif
}

bool ByteLevelBpeTokenizer::reads_nfc() {
#ifdef LADDER_HAS_UTF8PROC
  return true;
#else
  return false;
#endif
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::load(const std::string& path) {
  const nlohmann::json json = read_json_file(path);
  auto impl = std::make_shared<Impl>();
  impl->source = path;
  try {
    if (!json.is_object()) throw FormatError(path + ": not a JSON object");
    if (json.contains("normalizer") && !json["normalizer"].is_null() && is_metaspace_normalizer(json["normalizer"])) {
      impl->metaspace = true;
    } else if (json.contains("normalizer") && !json["normalizer"].is_null()) {
      const std::string type = json["normalizer"].value("type", std::string("?"));
      if (type != "NFC") unsupported(path, "normalizer \"" + type + "\"");
#ifndef LADDER_HAS_UTF8PROC
      throw FormatError(path + ": its NFC normalizer needs utf8proc, which this build lacks (install libutf8proc-dev "
                               "and rebuild)");
#endif
      impl->nfc = true;
    }
    const nlohmann::json& model = json.at("model");
    if (model.value("type", std::string("BPE")) != "BPE") unsupported(path, "model \"" + model["type"].get<std::string>() + "\"");
    impl->byte_fallback = model.value("byte_fallback", false);
    if (impl->byte_fallback != impl->metaspace)
      unsupported(path, impl->metaspace ? "a '\u2581' normalizer without byte_fallback" : "byte_fallback in a byte-level BPE");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty())
        unsupported(path, std::string("model.") + key);
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0)
      unsupported(path, "BPE dropout");
    impl->ignore_merges = model.value("ignore_merges", false);
    int64_t largest = -1;
    for (const auto& [token, id] : model.at("vocab").items()) {
      const int64_t value = id.get<int64_t>();
      if (value < 0 || value > (int64_t{1} << 24)) throw FormatError(path + ": vocab id " + std::to_string(value) + " of \"" + token + "\"");
      impl->vocab[token] = value;
      largest = std::max(largest, value);
    }
    for (const auto& item : json.value("added_tokens", nlohmann::json::array())) {
      Impl::Added added{item.at("content").get<std::string>(), item.at("id").get<int64_t>(), item.value("special", false)};
      for (const char* key : {"lstrip", "rstrip", "single_word"})
        if (item.value(key, false)) unsupported(path, std::string("added token \"") + added.content + "\" with " + key);
      if (added.content.empty() || added.id < 0 || added.id > (int64_t{1} << 24))
        throw FormatError(path + ": added token " + item.dump() + " has no content or a bad id");
      largest = std::max(largest, added.id);
      impl->added.push_back(added);
    }
    impl->id_to_token.assign(static_cast<size_t>(largest + 1), "");
    impl->is_special.assign(static_cast<size_t>(largest + 1), false);
    for (const auto& [token, id] : impl->vocab) impl->id_to_token[id] = token;
    for (const auto& added : impl->added) {
      impl->id_to_token[added.id] = added.content;
      impl->is_special[added.id] = added.special;
    }
    int64_t rank = 0;
    for (const auto& merge : model.at("merges")) {
      std::string left, right;
      if (merge.is_string()) {
        const std::string text = merge.get<std::string>();
        const size_t space = text.find(' ');
        if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
          throw FormatError(path + ": merge " + std::to_string(rank) + " \"" + text + "\" is not two tokens");
        left = text.substr(0, space), right = text.substr(space + 1);
      } else {
        if (!merge.is_array() || merge.size() != 2) throw FormatError(path + ": merge " + std::to_string(rank) + " is not a pair");
        left = merge[0].get<std::string>(), right = merge[1].get<std::string>();
      }
      for (const std::string* part : {&left, &right})
        if (!impl->vocab.count(*part))
          throw FormatError(path + ": merge " + std::to_string(rank) + " uses \"" + *part + "\", which is not in the vocabulary");
      if (!impl->vocab.count(left + right))
        throw FormatError(path + ": merge " + std::to_string(rank) + " makes \"" + left + right + "\", which is not in the vocabulary");
      impl->merge_rank.emplace(pair_key(left, right), rank);
      impl->merge_by_ids.emplace(id_pair_key(impl->vocab[left], impl->vocab[right]), std::make_pair(rank, impl->vocab[left + right]));
      ++rank;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      auto it = impl->vocab.find(model["unk_token"].get<std::string>());
      if (it == impl->vocab.end()) throw FormatError(path + ": unk_token is not in the vocabulary");
      impl->unk_id = it->second;
    }
    bool byte_level = false;
    read_pre_tokenizer(json.value("pre_tokenizer", nlohmann::json()), path, impl->steps, byte_level);
    if (byte_level == impl->metaspace)
      unsupported(path, impl->metaspace ? "a '\u2581' normalizer with a ByteLevel pre-tokenizer"
                                        : "a BPE without the ByteLevel pre-tokenizer");
    if (impl->metaspace && !impl->steps.empty()) unsupported(path, "a pre-tokenizer after the '\u2581' normalizer");
    read_post_processor(json.value("post_processor", nlohmann::json()), path, impl->prefix_ids, impl->suffix_ids);
    std::vector<int64_t> post_ids = impl->prefix_ids;
    post_ids.insert(post_ids.end(), impl->suffix_ids.begin(), impl->suffix_ids.end());
    for (int64_t id : post_ids)
      if (id < 0 || id >= static_cast<int64_t>(impl->id_to_token.size()) || impl->id_to_token[id].empty()) throw FormatError(path + ": post_processor id " + std::to_string(id) + " is outside the vocabulary");
    if (impl->metaspace) {
      if (!json.contains("decoder") || !is_metaspace_decoder(json["decoder"]))
        unsupported(path, "a decoder other than Llama 2's (Replace '\u2581', ByteFallback, Fuse, Strip)");
      for (int b = 0; b < 256; ++b)
        if (!impl->vocab.count(tokenizer::byte_piece_name(static_cast<uint8_t>(b)))) throw FormatError(path + ": byte_fallback is set but " + tokenizer::byte_piece_name(static_cast<uint8_t>(b)) + " is not in the vocabulary");
    } else if (json.contains("decoder") && !json["decoder"].is_null() && json["decoder"].value("type", std::string()) != "ByteLevel")
      unsupported(path, "decoder \"" + json["decoder"].value("type", std::string("?")) + "\"");
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(path + ": malformed tokenizer.json (" + error.what() + ")");
  }
  return ByteLevelBpeTokenizer(std::move(impl));
}

void ByteLevelBpeTokenizer::Impl::bpe(const std::string& piece, std::vector<int64_t>& ids,
                                      std::vector<std::string>* tokens) const {
  auto emit = [&](const std::string& token) {
    auto it = vocab.find(token);
    if (it == vocab.end()) {
      if (unk_id < 0) return;  // Hugging Face's BPE drops what it cannot map when it has no unk
      ids.push_back(unk_id);
      if (tokens) tokens->push_back(id_to_token[unk_id]);
      return;
    }
    ids.push_back(it->second);
    if (tokens) tokens->push_back(token);
  };
  if (ignore_merges && vocab.count(piece)) return emit(piece);
  std::vector<std::string> symbols;
  for (size_t pos = 0; pos < piece.size();) {
    const size_t length = std::min(tokenizer::utf8::char_length(piece[pos]), piece.size() - pos);
    symbols.push_back(piece.substr(pos, length));
    pos += length;
  }
  while (symbols.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_rank.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != merge_rank.end() && it->second < best) best = it->second, at = i;
    }
    if (best == std::numeric_limits<int64_t>::max()) break;
    symbols[at] += symbols[at + 1];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  for (const auto& symbol : symbols) emit(symbol);
}

void ByteLevelBpeTokenizer::Impl::metaspace_bpe(const std::string& text, std::vector<int64_t>& ids,
                                                std::vector<std::string>* tokens) const {
  if (text.empty()) return;
  std::string normalized = kSpaceSymbol;
  for (const char c : text) {
    if (c == ' ')
      normalized += kSpaceSymbol;
    else
      normalized += c;
  }
  std::vector<int64_t> symbols;
  for (size_t pos = 0; pos < normalized.size();) {
    const size_t length = std::min(tokenizer::utf8::char_length(normalized[pos]), normalized.size() - pos);
    const auto it = vocab.find(normalized.substr(pos, length));
    if (it != vocab.end()) {
      symbols.push_back(it->second);
    } else {
      for (size_t i = 0; i < length; ++i) symbols.push_back(vocab.at(tokenizer::byte_piece_name(static_cast<uint8_t>(normalized[pos + i]))));
    }
    pos += length;
  }
  tokenizer::merge_pairs(symbols, [&](int64_t left, int64_t right) -> std::optional<tokenizer::PairMerge> {
    const auto it = merge_by_ids.find(id_pair_key(left, right));
    if (it == merge_by_ids.end()) return std::nullopt;
    return tokenizer::PairMerge{-static_cast<double>(it->second.first), it->second.second};
  });
  for (const int64_t id : symbols) {
    ids.push_back(id);
    if (tokens) tokens->push_back(id_to_token[id]);
  }
}

void ByteLevelBpeTokenizer::Impl::encode_plain(const std::string& text, std::vector<int64_t>& ids,
                                               std::vector<std::string>* tokens) const {
  if (metaspace) return metaspace_bpe(text, ids, tokens);
  std::vector<std::string> pieces = {nfc ? nfc_normalized(text) : text};
  for (const PreTokenizerStep& step : steps) {
    std::vector<std::string> next;
    for (std::string& piece : pieces) {
      if (step.add_prefix_space && (piece.empty() || piece[0] != ' ')) piece.insert(piece.begin(), ' ');
      if (!step.split) {
        next.push_back(std::move(piece));
        continue;
      }
      for (auto& part : step.split->isolate(piece)) next.push_back(std::move(part));
    }
    pieces = std::move(next);
  }
  for (const auto& piece : pieces)
    if (!piece.empty()) bpe(tokenizer::byte_level::encode_bytes(piece), ids, tokens);
}

void ByteLevelBpeTokenizer::Impl::encode(const std::string& text, bool add_special_tokens, std::vector<int64_t>& ids,
                                         std::vector<std::string>* tokens) const {
  auto emit_special = [&](int64_t id) {
    ids.push_back(id);
    if (tokens) tokens->push_back(id_to_token[id]);
  };
  const std::string valid = tokenizer::byte_level::utf8_lossy(text);
  if (add_special_tokens)
    for (int64_t id : prefix_ids) emit_special(id);
  // Added tokens are found in the raw text first (leftmost, then longest) and never split.
  size_t stretch = 0;
  for (size_t pos = 0; pos < valid.size();) {
    const Added* found = nullptr;
    for (const auto& candidate : added)
      if (valid.compare(pos, candidate.content.size(), candidate.content) == 0 &&
          (!found || candidate.content.size() > found->content.size()))
        found = &candidate;
    if (!found) {
      ++pos;
      continue;
    }
    encode_plain(valid.substr(stretch, pos - stretch), ids, tokens);
    emit_special(found->id);
    pos += found->content.size();
    stretch = pos;
  }
  encode_plain(valid.substr(stretch), ids, tokens);
  if (add_special_tokens)
    for (int64_t id : suffix_ids) emit_special(id);
}

std::vector<std::string> ByteLevelBpeTokenizer::encode_tokens(const std::string& text, bool add_special_tokens) const {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
  impl_->encode(text, add_special_tokens, ids, &tokens);
  return tokens;
}

std::vector<int64_t> ByteLevelBpeTokenizer::encode(const std::string& text, bool add_special_tokens) const {
  std::vector<int64_t> ids;
  impl_->encode(text, add_special_tokens, ids, nullptr);
  return ids;
}

std::string ByteLevelBpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::string bytes;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size() || impl.id_to_token[id].empty())
      throw UsageError(expected_found(impl.source + ": decode: id " + std::to_string(id), "a token id of this tokenizer",
                                      "none with that id"));
    if (skip_special_tokens && impl.is_special[id]) continue;
    const std::string& token = impl.id_to_token[id];
    std::string token_bytes;
    if (impl.metaspace) {
      if (tokenizer::is_byte_piece_name(token)) {
        bytes += static_cast<char>(tokenizer::byte_of_piece(token));
        continue;
      }
      for (size_t at = 0; at < token.size();) {
        const bool space = token.compare(at, kSpaceSymbol.size(), kSpaceSymbol) == 0;
        bytes += space ? std::string(" ") : token.substr(at, 1);
        at += space ? kSpaceSymbol.size() : 1;
      }
      continue;
    }
    if (!tokenizer::byte_level::decode_chars(token, token_bytes)) token_bytes = token;
    bytes += token_bytes;
  }
  if (impl.metaspace && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return tokenizer::byte_level::utf8_lossy(bytes);
}

int64_t ByteLevelBpeTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }

int64_t ByteLevelBpeTokenizer::token_to_id(const std::string& token) const {
  for (const auto& added : impl_->added)
    if (added.content == token) return added.id;
  auto it = impl_->vocab.find(token);
  return it == impl_->vocab.end() ? -1 : it->second;
}

}  // namespace ladder
