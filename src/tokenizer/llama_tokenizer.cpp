#include "ladder/tokenizer/llama_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "bpe_model.h"
#include "ladder/error.h"
#include "normalizer.h"
#include "piece_decoder.h"
#include "sentencepiece_model.h"

namespace ladder {

using tokenizer::ModelPiece;
using tokenizer::PieceType;

struct LlamaTokenizer::Impl {
  std::vector<ModelPiece> pieces;
  std::optional<tokenizer::Normalizer> normalizer;
  std::optional<tokenizer::BpeModel> model;
  int32_t unk_id = -1, bos_id = -1, eos_id = -1;
  std::string unk_surface;
  tokenizer::DecodeRules rules;
};

namespace {


int32_t find_piece(const std::vector<ModelPiece>& pieces, const std::string& name, PieceType type,
                   const std::string& path) {
  for (size_t i = 0; i < pieces.size(); ++i)
    if (pieces[i].piece == name && pieces[i].type == type) return static_cast<int32_t>(i);
  throw FormatError(path + ": no " + (type == PieceType::kUnknown ? "UNKNOWN" : "CONTROL") + " piece \"" + name +
                    "\" (a Llama tokenizer needs <unk>, <s> and </s>; wrong file?)");
}

}  // namespace

LlamaTokenizer::LlamaTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

bool LlamaTokenizer::is_bpe_model(const std::string& path) {
  return tokenizer::parse_sentencepiece_model(tokenizer::read_sentencepiece_file(path, "tokenizer.model"), path).trainer.model_type == 2;
}

LlamaTokenizer LlamaTokenizer::load(const std::string& path) {
  auto model = tokenizer::parse_sentencepiece_model(tokenizer::read_sentencepiece_file(path, "tokenizer.model"), path);
  if (model.trainer.model_type != 2)
    throw FormatError(expected_found(path + ": trainer_spec.model_type", "2 (BPE)", std::to_string(model.trainer.model_type),
                                     model.trainer.model_type == 1 ? "a unigram model: T5's tokenizer reads it" : ""));
  if (model.trainer.treat_whitespace_as_suffix)
    throw FormatError(path + ": trainer_spec.treat_whitespace_as_suffix is not supported");
  if (model.has_denormalizer) throw FormatError(path + ": a denormalizer_spec with rules is not supported");
  std::unordered_set<std::string_view> seen;
  std::vector<std::string> user_defined;
  for (size_t i = 0; i < model.pieces.size(); ++i) {
    if (!seen.insert(model.pieces[i].piece).second)
      throw FormatError(path + ": piece " + std::to_string(i) + " \"" + model.pieces[i].piece +
                        "\" is defined twice (corrupt model file?)");
    if (model.pieces[i].type == PieceType::kUserDefined) user_defined.push_back(model.pieces[i].piece);
    if (model.pieces[i].type == PieceType::kByte &&
        (!model.trainer.byte_fallback || !tokenizer::is_byte_piece_name(model.pieces[i].piece)))
      throw FormatError(path + ": BYTE piece \"" + model.pieces[i].piece +
                        "\" is not <0xHH> in a model with trainer_spec.byte_fallback (corrupt model file?)");
  }
  auto impl = std::make_shared<Impl>();
  impl->unk_id = find_piece(model.pieces, model.trainer.unk_piece, PieceType::kUnknown, path);
  impl->bos_id = find_piece(model.pieces, model.trainer.bos_piece, PieceType::kControl, path);
  impl->eos_id = find_piece(model.pieces, model.trainer.eos_piece, PieceType::kControl, path);
  impl->unk_surface = model.trainer.unk_surface;
  impl->rules = {model.normalizer.add_dummy_prefix || model.normalizer.remove_extra_whitespaces,
                 model.normalizer.remove_extra_whitespaces};
  impl->normalizer.emplace(model.normalizer, user_defined, path);
  impl->model.emplace(model, impl->unk_id, path);
  impl->pieces = std::move(model.pieces);
  return LlamaTokenizer(std::move(impl));
}

std::vector<int64_t> LlamaTokenizer::encode(const std::string& text, bool add_bos) const {
  std::vector<int64_t> ids;
  if (add_bos) ids.push_back(impl_->bos_id);
  std::vector<tokenizer::Segment> segments;
  const std::string normalized = impl_->normalizer->normalize(text);
  impl_->model->encode(normalized, segments);
  for (const auto& segment : segments) ids.push_back(segment.id);
  return ids;
}

std::vector<std::string> LlamaTokenizer::encode_pieces(const std::string& text) const {
  std::vector<tokenizer::Segment> segments;
  const std::string normalized = impl_->normalizer->normalize(text);
  impl_->model->encode(normalized, segments);
  std::vector<std::string> pieces;
  for (const auto& segment : segments)
    pieces.push_back(segment.id == impl_->unk_id ? std::string(segment.text) : impl_->pieces[segment.id].piece);
  return pieces;
}

std::string LlamaTokenizer::decode(const std::vector<int64_t>& ids) const {
  using Kind = tokenizer::DecodedToken::Kind;
  std::vector<tokenizer::DecodedToken> tokens;
  for (const int64_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw UsageError(expected_found("LlamaTokenizer::decode: id " + std::to_string(id),
                                      "an id in [0, " + std::to_string(vocab_size()) + ")", "one outside the vocabulary"));
    const ModelPiece& piece = impl_->pieces[id];
    switch (piece.type) {
      case PieceType::kByte: tokens.push_back({Kind::kByte, {}, tokenizer::byte_of_piece(piece.piece)}); break;
      case PieceType::kControl: break;
      case PieceType::kUnknown: tokens.push_back({Kind::kLiteral, impl_->unk_surface}); break;
      default: tokens.push_back({Kind::kPiece, piece.piece}); break;
    }
  }
  return tokenizer::decode_tokens(tokens, impl_->rules);
}

int64_t LlamaTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->pieces.size()); }
int64_t LlamaTokenizer::bos_id() const { return impl_->bos_id; }
int64_t LlamaTokenizer::eos_id() const { return impl_->eos_id; }
int64_t LlamaTokenizer::unk_id() const { return impl_->unk_id; }

}  // namespace ladder
