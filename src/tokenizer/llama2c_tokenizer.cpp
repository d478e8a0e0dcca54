#include "ladder/tokenizer/llama2c_tokenizer.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <unordered_map>

#include "ladder/error.h"
#include "pair_merge.h"
#include "piece_decoder.h"

namespace ladder {

struct Llama2cTokenizer::Impl {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::unordered_map<std::string, int64_t> ids;  // piece -> its first id
  int64_t space_id = -1;                         // the dummy prefix " "
};

namespace {

constexpr int32_t kMaxPieceLength = 1024;
constexpr int64_t kMaxVocabulary = int64_t{1} << 24;

class Reader {
 public:
  Reader(const std::string& bytes, const std::string& path) : bytes_(bytes), path_(path) {}
  bool done() const { return at_ == bytes_.size(); }
  size_t remaining() const { return bytes_.size() - at_; }
  template <typename T>
  T read(const char* what) {
    T value;
    take(reinterpret_cast<char*>(&value), sizeof value, what);
    return value;
  }
  std::string read_string(size_t length) {
    std::string s(length, '\0');
    take(s.data(), length, "piece bytes");
    return s;
  }

 private:
  void take(char* out, size_t n, const char* what) {
    if (bytes_.size() - at_ < n)
      throw FormatError(path_ + ": truncated at byte " + std::to_string(at_) + " (reading " + what +
                        "; not a llama2.c tokenizer file?)");
    std::memcpy(out, bytes_.data() + at_, n);
    at_ += n;
  }
  const std::string& bytes_;
  const std::string& path_;
  size_t at_ = 0;
};

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Llama2cTokenizer Llama2cTokenizer::load(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw FormatError(path + ": no such tokenizer file");
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw FormatError(path + ": cannot read the tokenizer file");
  Reader reader(bytes, path);
  const auto max_length = reader.read<int32_t>("max_token_length");
  if (max_length < 1 || max_length > kMaxPieceLength)
    throw FormatError(expected_found(path + ": max_token_length", "1 to " + std::to_string(kMaxPieceLength),
                                     std::to_string(max_length), "not a llama2.c tokenizer file?"));
  auto impl = std::make_shared<Impl>();
  while (!reader.done()) {
    const int64_t id = static_cast<int64_t>(impl->pieces.size());
    if (id >= kMaxVocabulary) throw FormatError(path + ": more than " + std::to_string(kMaxVocabulary) + " tokens");
    if (reader.remaining() < 8)
      throw FormatError(path + ": " + std::to_string(reader.remaining()) + " stray bytes after token " + std::to_string(id - 1) +
                        " (truncated, or not a llama2.c tokenizer file?)");
    const auto score = reader.read<float>("a score");
    const auto length = reader.read<int32_t>("a piece length");
    if (!std::isfinite(score)) throw FormatError(path + ": token " + std::to_string(id) + " has a non-finite score");
    if (length < 1 || length > max_length)
      throw FormatError(expected_found(path + ": token " + std::to_string(id) + " length",
                                       "1 to max_token_length " + std::to_string(max_length), std::to_string(length)));
    impl->pieces.push_back(reader.read_string(static_cast<size_t>(length)));
    impl->scores.push_back(score);
    impl->ids.emplace(impl->pieces.back(), id);
  }
  const int64_t bytes_end = kFirstByteId + 256;
  if (static_cast<int64_t>(impl->pieces.size()) < bytes_end)
    throw FormatError(expected_found(path + ": tokens", "at least " + std::to_string(bytes_end) + " (<unk>, <s>, </s>, 256 bytes)",
                                     std::to_string(impl->pieces.size())));
  for (int b = 0; b < 256; ++b)
    if (impl->pieces[kFirstByteId + b] != tokenizer::byte_piece_name(static_cast<uint8_t>(b)))
      throw FormatError(expected_found(path + ": token " + std::to_string(kFirstByteId + b), "the byte token " + tokenizer::byte_piece_name(static_cast<uint8_t>(b)),
                                       "\"" + impl->pieces[kFirstByteId + b] + "\""));
  const auto space = impl->ids.find(" ");
  if (space == impl->ids.end()) throw FormatError(path + ": no \" \" piece, which encoding starts every text with");
  impl->space_id = space->second;
  return Llama2cTokenizer(std::move(impl));
}

std::vector<int64_t> Llama2cTokenizer::encode(const std::string& text, bool add_bos, bool add_eos) const {
  const Impl& impl = *impl_;
  std::vector<int64_t> tokens;
  if (!text.empty()) tokens.push_back(impl.space_id);
  // One character at a time: a lead byte and at most three continuation bytes after it.
  for (size_t at = 0; at < text.size();) {
    size_t length = 1;
    while (at + length < text.size() && (static_cast<uint8_t>(text[at + length]) & 0xC0) == 0x80 && length < 4) ++length;
    const auto it = impl.ids.find(text.substr(at, length));
    if (it != impl.ids.end()) {
      tokens.push_back(it->second);
    } else {
      for (size_t i = 0; i < length; ++i) tokens.push_back(kFirstByteId + static_cast<uint8_t>(text[at + i]));
    }
    at += length;
  }

  tokenizer::merge_pairs(tokens, [&](int64_t left, int64_t right) -> std::optional<tokenizer::PairMerge> {
    const auto it = impl.ids.find(impl.pieces[left] + impl.pieces[right]);
    if (it == impl.ids.end()) return std::nullopt;
    return tokenizer::PairMerge{impl.scores[it->second], it->second};
  });

  std::vector<int64_t> ids;
  if (add_bos) ids.push_back(kBosId);
  ids.insert(ids.end(), tokens.begin(), tokens.end());
  if (add_eos) ids.push_back(kEosId);
  return ids;
}

std::string Llama2cTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  int64_t previous = kBosId;
  for (const int64_t id : ids) {
    const std::string& p = piece(id);
    if (id >= kFirstByteId && id < kFirstByteId + 256) {
      text += static_cast<char>(id - kFirstByteId);
    } else if (id != kBosId && id != kEosId) {
      // sentencepiece leaves out the space that the dummy prefix put before the first word.
      text += previous == kBosId && p[0] == ' ' ? p.substr(1) : p;
    }
    previous = id;
  }
  return text;
}

int64_t Llama2cTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->pieces.size()); }

const std::string& Llama2cTokenizer::piece(int64_t id) const {
  if (id < 0 || id >= vocab_size())
    throw UsageError(expected_found("llama2.c tokenizer: id " + std::to_string(id),
                                    "an id in [0, " + std::to_string(vocab_size()) + ")", "one outside the vocabulary"));
  return impl_->pieces[id];
}

float Llama2cTokenizer::score(int64_t id) const {
  piece(id);
  return impl_->scores[id];
}

}  // namespace ladder
