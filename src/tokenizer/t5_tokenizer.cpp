#include "ladder/tokenizer/t5_tokenizer.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "ladder/error.h"
#include "normalizer.h"
#include "piece_decoder.h"
#include "sentencepiece_model.h"
#include "unigram_model.h"
#include "utf8.h"

namespace ladder {

using tokenizer::ModelPiece;
using tokenizer::PieceType;

struct T5Tokenizer::Impl {
  std::vector<ModelPiece> pieces;
  std::optional<tokenizer::Normalizer> normalizer;
  std::optional<tokenizer::UnigramModel> model;
  int32_t unk_id = -1, eos_id = -1, pad_id = -1;
  std::string unk_surface;
  bool strip_leading_space = true;  // decoding drops the dummy prefix's space
  bool remove_extra_whitespaces = true;
  std::vector<std::pair<std::string, int32_t>> specials;  // recognised in text: pad, eos, unk
};

namespace {

constexpr std::string_view kSentinelPrefix = "<extra_id_";


// The control piece named `name`, as sentencepiece's eos_id()/pad_id() find it.
int32_t find_control(const std::vector<ModelPiece>& pieces, const std::string& name,
                     const std::string& path) {
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].piece == name && pieces[i].type == PieceType::kControl) {
      return static_cast<int32_t>(i);
    }
  }
  throw FormatError(path + ": no CONTROL piece \"" + name +
                    "\" (a T5 tokenizer needs <pad> and </s>; wrong file?)");
}

// Length of the sentinel "<extra_id_N>" (N in 0..99, written without leading zeros) at the
// start of `text`, or 0; `n` gets N.
size_t match_sentinel(std::string_view text, int& n) {
  if (text.substr(0, kSentinelPrefix.size()) != kSentinelPrefix) return 0;
  size_t pos = kSentinelPrefix.size();
  const size_t digits_begin = pos;
  int value = 0;
  while (pos < text.size() && pos - digits_begin < 3 && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + (text[pos++] - '0');
  }
  const size_t digits = pos - digits_begin;
  if (digits == 0 || pos >= text.size() || text[pos] != '>') return 0;
  if (value >= T5Tokenizer::kNumSentinels || (digits > 1 && text[digits_begin] == '0')) return 0;
  n = value;
  return pos + 1;
}

}  // namespace

T5Tokenizer::T5Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

T5Tokenizer T5Tokenizer::load(const std::string& spiece_model_path) {
  const std::string& path = spiece_model_path;
  auto model = tokenizer::parse_sentencepiece_model(tokenizer::read_sentencepiece_file(path, "spiece.model"), path);
  auto impl = std::make_shared<Impl>();

  if (model.trainer.model_type != 1) {
    throw FormatError(expected_found(path + ": trainer_spec.model_type", "1 (UNIGRAM)",
                                     std::to_string(model.trainer.model_type),
                                     "only unigram sentencepiece models are supported"));
  }
  if (model.trainer.treat_whitespace_as_suffix) {
    throw FormatError(path + ": trainer_spec.treat_whitespace_as_suffix is not supported");
  }
  if (model.has_denormalizer) {
    throw FormatError(path + ": a denormalizer_spec with rules is not supported");
  }

  std::unordered_set<std::string_view> seen;
  std::vector<std::string> user_defined;
  int unknown_count = 0;
  for (size_t i = 0; i < model.pieces.size(); ++i) {
    const ModelPiece& piece = model.pieces[i];
    if (!seen.insert(piece.piece).second) {
      throw FormatError(path + ": piece " + std::to_string(i) + " \"" + piece.piece +
                        "\" is defined twice (corrupt model file?)");
    }
    if (piece.type == PieceType::kUnknown) {
      impl->unk_id = static_cast<int32_t>(i);
      ++unknown_count;
    }
    if (piece.type == PieceType::kUserDefined) user_defined.push_back(piece.piece);
    if (piece.type == PieceType::kByte &&
        (!model.trainer.byte_fallback || !tokenizer::is_byte_piece_name(piece.piece))) {
      throw FormatError(path + ": BYTE piece \"" + piece.piece +
                        "\" is not <0xHH> in a model with trainer_spec.byte_fallback "
                        "(corrupt model file?)");
    }
  }
  if (unknown_count != 1) {
    throw FormatError(
        expected_found(path + ": UNKNOWN pieces", "exactly 1", std::to_string(unknown_count)));
  }
  impl->eos_id = find_control(model.pieces, model.trainer.eos_piece, path);
  impl->pad_id = find_control(model.pieces, model.trainer.pad_piece, path);
  impl->specials = {{model.trainer.pad_piece, impl->pad_id},
                    {model.trainer.eos_piece, impl->eos_id},
                    {model.pieces[impl->unk_id].piece, impl->unk_id}};
  impl->unk_surface = model.trainer.unk_surface;
  impl->strip_leading_space =
      model.normalizer.add_dummy_prefix || model.normalizer.remove_extra_whitespaces;
  impl->remove_extra_whitespaces = model.normalizer.remove_extra_whitespaces;

  impl->normalizer.emplace(model.normalizer, user_defined, path);
  impl->model.emplace(model, impl->unk_id, path);
  impl->pieces = std::move(model.pieces);
  return T5Tokenizer(std::move(impl));
}

void T5Tokenizer::tokenize(const std::string& text, bool split_special, std::vector<int64_t>& ids,
                           std::vector<std::string>* pieces) const {
  const Impl& impl = *impl_;
  std::vector<tokenizer::Segment> segments;
  std::string normalized;
  // Hugging Face (legacy T5) encodes each stretch between special tokens on its own, so each
  // gets its own dummy prefix; whitespace at the stretch edges vanishes in normalisation.
  auto encode_stretch = [&](std::string_view stretch) {
    normalized = impl.normalizer->normalize(stretch);
    segments.clear();
    impl.model->encode(normalized, segments);
    for (const tokenizer::Segment& segment : segments) {
      ids.push_back(segment.id);
      if (pieces != nullptr) {
        pieces->push_back(segment.id == impl.unk_id ? std::string(segment.text)
                                                    : impl.pieces[segment.id].piece);
      }
    }
  };
  auto emit_special = [&](int64_t id) {
    ids.push_back(id);
    if (pieces != nullptr) pieces->push_back(id_to_piece(id));
  };

  const std::string_view all(text);
  size_t stretch_begin = 0;
  for (size_t pos = 0; split_special && pos < all.size();) {
    const std::string_view rest = all.substr(pos);
    int64_t id = -1;
    size_t length = 0;
    int n = 0;
    if ((length = match_sentinel(rest, n)) > 0) {
      id = sentinel_id(n);
    } else {
      for (const auto& [name, special_id] : impl.specials) {
        if (rest.substr(0, name.size()) == name) {
          length = name.size();
          id = special_id;
          break;
        }
      }
    }
    if (id < 0) {
      ++pos;
      continue;
    }
    encode_stretch(all.substr(stretch_begin, pos - stretch_begin));
    emit_special(id);
    pos += length;
    stretch_begin = pos;
  }
  encode_stretch(all.substr(stretch_begin));
}

std::vector<int64_t> T5Tokenizer::encode(const std::string& text, int64_t max_length,
                                         bool add_eos) const {
  std::vector<int64_t> ids;
  tokenize(text, /*split_special=*/true, ids, nullptr);
  if (max_length >= 0) {
    if (add_eos && max_length == 0) {
      throw UsageError("T5Tokenizer::encode: max_length 0 leaves no room for </s>");
    }
    const auto keep = static_cast<size_t>(add_eos ? max_length - 1 : max_length);
    if (ids.size() > keep) ids.resize(keep);
  }
  if (add_eos) ids.push_back(impl_->eos_id);
  return ids;
}

std::vector<std::string> T5Tokenizer::encode_pieces(const std::string& text) const {
  std::vector<int64_t> ids;
  std::vector<std::string> pieces;
  tokenize(text, /*split_special=*/true, ids, &pieces);
  return pieces;
}

std::vector<int64_t> T5Tokenizer::encode_plain(const std::string& text) const {
  std::vector<int64_t> ids;
  tokenize(text, /*split_special=*/false, ids, nullptr);
  return ids;
}

std::string T5Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::deque<std::string> names;  // control and sentinel names; a deque never moves them
  std::vector<tokenizer::DecodedToken> tokens;
  using Kind = tokenizer::DecodedToken::Kind;
  for (const int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) {
      if (skip_special_tokens) continue;
      throw UsageError(expected_found("T5Tokenizer::decode: id " + std::to_string(id),
                                      "an id in [0, " + std::to_string(vocab_size()) + ")",
                                      "one outside the vocabulary"));
    }
    const bool sentinel = id >= piece_count();
    const PieceType type = sentinel ? PieceType::kControl : impl.pieces[id].type;
    if (type == PieceType::kByte) {
      tokens.push_back({Kind::kByte, {}, tokenizer::byte_of_piece(impl.pieces[id].piece)});
    } else if (type == PieceType::kControl) {
      if (skip_special_tokens) continue;
      names.push_back(id_to_piece(id));
      tokens.push_back({Kind::kLiteral, names.back()});
    } else if (type == PieceType::kUnknown) {
      tokens.push_back({Kind::kLiteral, impl.unk_surface});
    } else {
      tokens.push_back({Kind::kPiece, impl.pieces[id].piece});
    }
  }
  return tokenizer::decode_tokens(tokens, {impl.strip_leading_space, impl.remove_extra_whitespaces});
}

std::string T5Tokenizer::id_to_piece(int64_t id) const {
  if (id >= 0 && id < piece_count()) return impl_->pieces[id].piece;
  if (id >= piece_count() && id < vocab_size()) {
    return std::string(kSentinelPrefix) + std::to_string(piece_count() + kNumSentinels - 1 - id) +
           ">";
  }
  throw UsageError(expected_found("T5Tokenizer::id_to_piece: id " + std::to_string(id),
                                  "an id in [0, " + std::to_string(vocab_size()) + ")",
                                  "one outside the vocabulary"));
}

int64_t T5Tokenizer::piece_count() const { return static_cast<int64_t>(impl_->pieces.size()); }
int64_t T5Tokenizer::vocab_size() const { return piece_count() + kNumSentinels; }

int64_t T5Tokenizer::sentinel_id(int n) const {
  if (n < 0 || n >= kNumSentinels) {
    throw UsageError(
        expected_found("T5Tokenizer::sentinel_id", "n in [0, 100)", std::to_string(n)));
  }
  return piece_count() + kNumSentinels - 1 - n;
}

int64_t T5Tokenizer::pad_id() const { return impl_->pad_id; }
int64_t T5Tokenizer::eos_id() const { return impl_->eos_id; }
int64_t T5Tokenizer::unk_id() const { return impl_->unk_id; }

}  // namespace ladder
