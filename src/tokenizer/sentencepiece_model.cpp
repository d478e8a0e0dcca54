#include "sentencepiece_model.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ladder/error.h"
#include "protobuf_reader.h"

namespace ladder::tokenizer {

namespace {

// Field numbers from sentencepiece_model.proto.
namespace model_field {
constexpr uint32_t kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3, kDenormalizerSpec = 5;
}
namespace piece_field {
constexpr uint32_t kPiece = 1, kScore = 2, kType = 3;
}
namespace trainer_field {
constexpr uint32_t kModelType = 3, kTreatWhitespaceAsSuffix = 24, kByteFallback = 35,
                   kUnkSurface = 44, kUnkPiece = 45, kBosPiece = 46, kEosPiece = 47, kPadPiece = 48;
}
namespace normalizer_field {
constexpr uint32_t kName = 1, kPrecompiledCharsmap = 2, kAddDummyPrefix = 3,
                   kRemoveExtraWhitespaces = 4, kEscapeWhitespaces = 5;
}

ModelPiece parse_piece(const ProtoReader& parent, std::string_view bytes, size_t index) {
  ProtoReader reader = parent.nested(bytes, "piece " + std::to_string(index));
  ModelPiece piece;
  ProtoField field;
  while (reader.next(field)) {
    switch (field.number) {
      case piece_field::kPiece:
        piece.piece = std::string(reader.as_bytes(field, "piece"));
        break;
      case piece_field::kScore:
        piece.score = reader.as_float(field, "score");
        break;
      case piece_field::kType: {
        const int32_t type = reader.as_int32(field, "type");
        if (type < 1 || type > 6) {
          reader.fail(expected_found("piece type", "1..6 (NORMAL..BYTE)", std::to_string(type)));
        }
        piece.type = static_cast<PieceType>(type);
        break;
      }
      default:
        break;  // extensions and future fields do not change encoding
    }
  }
  if (piece.piece.empty()) reader.fail("empty piece string (sentencepiece forbids them)");
  return piece;
}

TrainerSpecFields parse_trainer_spec(const ProtoReader& parent, std::string_view bytes) {
  ProtoReader reader = parent.nested(bytes, "trainer_spec");
  TrainerSpecFields spec;
  ProtoField field;
  while (reader.next(field)) {
    switch (field.number) {
      case trainer_field::kModelType:
        spec.model_type = reader.as_int32(field, "model_type");
        break;
      case trainer_field::kTreatWhitespaceAsSuffix:
        spec.treat_whitespace_as_suffix = reader.as_bool(field, "treat_whitespace_as_suffix");
        break;
      case trainer_field::kByteFallback:
        spec.byte_fallback = reader.as_bool(field, "byte_fallback");
        break;
      case trainer_field::kUnkSurface:
        spec.unk_surface = std::string(reader.as_bytes(field, "unk_surface"));
        break;
      case trainer_field::kUnkPiece:
        spec.unk_piece = std::string(reader.as_bytes(field, "unk_piece"));
        break;
      case trainer_field::kBosPiece:
        spec.bos_piece = std::string(reader.as_bytes(field, "bos_piece"));
        break;
      case trainer_field::kEosPiece:
        spec.eos_piece = std::string(reader.as_bytes(field, "eos_piece"));
        break;
      case trainer_field::kPadPiece:
        spec.pad_piece = std::string(reader.as_bytes(field, "pad_piece"));
        break;
      default:
        break;  // training-only settings
    }
  }
  return spec;
}

NormalizerSpecFields parse_normalizer_spec(const ProtoReader& parent, std::string_view bytes,
                                           const char* context) {
  ProtoReader reader = parent.nested(bytes, context);
  NormalizerSpecFields spec;
  ProtoField field;
  while (reader.next(field)) {
    switch (field.number) {
      case normalizer_field::kName:
        spec.name = std::string(reader.as_bytes(field, "name"));
        break;
      case normalizer_field::kPrecompiledCharsmap:
        spec.precompiled_charsmap = std::string(reader.as_bytes(field, "precompiled_charsmap"));
        break;
      case normalizer_field::kAddDummyPrefix:
        spec.add_dummy_prefix = reader.as_bool(field, "add_dummy_prefix");
        break;
      case normalizer_field::kRemoveExtraWhitespaces:
        spec.remove_extra_whitespaces = reader.as_bool(field, "remove_extra_whitespaces");
        break;
      case normalizer_field::kEscapeWhitespaces:
        spec.escape_whitespaces = reader.as_bool(field, "escape_whitespaces");
        break;
      default:
        break;  // e.g. normalization_rule_tsv, only used when training
    }
  }
  return spec;
}

}  // namespace

SentencePieceModel parse_sentencepiece_model(const std::string& bytes, const std::string& source) {
  ProtoReader reader(bytes, source, "ModelProto");
  SentencePieceModel model;
  bool has_trainer = false, has_normalizer = false;
  ProtoField field;
  while (reader.next(field)) {
    switch (field.number) {
      case model_field::kPieces:
        model.pieces.push_back(
            parse_piece(reader, reader.as_bytes(field, "pieces"), model.pieces.size()));
        break;
      case model_field::kTrainerSpec:
        model.trainer = parse_trainer_spec(reader, reader.as_bytes(field, "trainer_spec"));
        has_trainer = true;
        break;
      case model_field::kNormalizerSpec:
        model.normalizer = parse_normalizer_spec(reader, reader.as_bytes(field, "normalizer_spec"),
                                                 "normalizer_spec");
        has_normalizer = true;
        break;
      case model_field::kDenormalizerSpec: {
        const NormalizerSpecFields spec = parse_normalizer_spec(
            reader, reader.as_bytes(field, "denormalizer_spec"), "denormalizer_spec");
        model.has_denormalizer = !spec.precompiled_charsmap.empty();
        break;
      }
      default:
        break;  // self_test_data and extensions
    }
  }
  if (model.pieces.empty()) reader.fail("no pieces (field 1)");
  if (!has_trainer) reader.fail("no trainer_spec (field 2); the file may be cut short");
  if (!has_normalizer) reader.fail("no normalizer_spec (field 3); the file may be cut short");
  return model;
}

std::string read_sentencepiece_file(const std::string& path, const std::string& inner_file) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw FormatError(path + ": is a directory, not a sentencepiece model (give the " + inner_file + " file inside it)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path + ": cannot open the sentencepiece model (missing file?)");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FormatError(path + ": read error");
  return buffer.str();
}

}  // namespace ladder::tokenizer
