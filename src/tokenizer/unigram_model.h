#pragma once
// Segmentation of normalised text with a unigram language model: the Viterbi best path over
// all pieces (scores are log probabilities), as sentencepiece's optimized encoder does it.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "piece_trie.h"
#include "sentencepiece_model.h"

namespace ladder::tokenizer {

// One segment of the normalised text and its id. Unknown characters in a row form one
// segment with the unknown id; with byte fallback each of their bytes gets a byte piece.
struct Segment {
  int32_t id;
  std::string_view text;  // a view into the normalised text
};

class UnigramModel {
 public:
  // `unk_id` is the id of the UNKNOWN piece; `source` names the file in errors.
  UnigramModel(const SentencePieceModel& model, int32_t unk_id, const std::string& source);

  // Appends the best segmentation of `normalized` to `out`.
  void encode(std::string_view normalized, std::vector<Segment>& out) const;

 private:
  std::vector<float> scores_;
  std::vector<PieceType> types_;
  PieceTrie trie_;  // NORMAL, USER_DEFINED and UNUSED pieces (UNUSED ones are skipped)
  int32_t unk_id_;
  float max_score_;
  float unk_score_;  // the lowest NORMAL score minus sentencepiece's penalty of 10
  bool byte_fallback_;
  std::array<int32_t, 256> byte_ids_{};  // ids of the pieces <0x00> .. <0xFF>
};

}  // namespace ladder::tokenizer
