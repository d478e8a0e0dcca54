#pragma once
// Segmentation of normalised text with a sentencepiece BPE model (Llama 2's tokenizer.model):
// start from characters (user-defined pieces whole), then repeatedly merge the adjacent pair
// whose concatenation is the highest-scoring piece, leftmost first on ties, as
// sentencepiece's bpe_model.cc does. Unknown symbols become byte pieces with byte fallback, or
// one unknown segment per run.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "piece_trie.h"
#include "sentencepiece_model.h"
#include "unigram_model.h"  // Segment

namespace ladder::tokenizer {

class BpeModel {
 public:
  BpeModel(const SentencePieceModel& model, int32_t unk_id, const std::string& source);
  // Appends the segmentation of `normalized` to `out`.
  void encode(std::string_view normalized, std::vector<Segment>& out) const;

 private:
  std::unordered_map<std::string_view, int32_t> pieces_;  // NORMAL and USER_DEFINED
  std::vector<std::string> piece_storage_;
  std::vector<float> scores_;
  std::vector<PieceType> types_;
  PieceTrie user_defined_;
  int32_t unk_id_;
  bool byte_fallback_;
  std::array<int32_t, 256> byte_ids_{};
};

}  // namespace ladder::tokenizer
