#pragma once
// The parts of sentencepiece's ModelProto (sentencepiece_model.proto) that encoding and
// decoding need, parsed from a serialized `spiece.model`.
#include <cstdint>
#include <string>
#include <vector>

namespace ladder::tokenizer {

enum class PieceType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct ModelPiece {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

// Field defaults are the proto's own defaults, so an absent field means what it means to
// sentencepiece.
struct TrainerSpecFields {
  int32_t model_type = 1;  // UNIGRAM
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ ", what <unk> decodes to
  std::string unk_piece = "<unk>";
  std::string bos_piece = "<s>";
  std::string eos_piece = "</s>";
  std::string pad_piece = "<pad>";
};

struct NormalizerSpecFields {
  std::string name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

struct SentencePieceModel {
  std::vector<ModelPiece> pieces;
  TrainerSpecFields trainer;
  NormalizerSpecFields normalizer;
  bool has_denormalizer = false;  // a denormalizer_spec with rules (unsupported)
};

// Parses a serialized ModelProto; `source` names the file in FormatError messages. Checks
// the wire format and that the trainer and normalizer specs are present (they follow the
// pieces in the file, so their absence reveals a file cut at a piece boundary).
SentencePieceModel parse_sentencepiece_model(const std::string& bytes, const std::string& source);

// The bytes of a sentencepiece model file; FormatError for a folder (naming `inner_file`, the
// file expected inside it), a missing or unreadable file.
std::string read_sentencepiece_file(const std::string& path, const std::string& inner_file);

}  // namespace ladder::tokenizer
