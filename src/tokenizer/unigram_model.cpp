#include "unigram_model.h"

#include <algorithm>
#include <cfloat>
#include <unordered_map>

#include "ladder/error.h"
#include "piece_decoder.h"
#include "utf8.h"

namespace ladder::tokenizer {

namespace {
constexpr float kUnkPenalty = 10.0f;  // sentencepiece unigram_model.cc
}

UnigramModel::UnigramModel(const SentencePieceModel& model, int32_t unk_id,
                           const std::string& source)
    : unk_id_(unk_id), byte_fallback_(model.trainer.byte_fallback) {
  // Scores bound the unknown penalty and the user-defined bonus; sentencepiece takes both
  // from NORMAL pieces only, starting from FLT_MAX / FLT_MIN.
  float min_score = FLT_MAX;
  max_score_ = FLT_MIN;
  std::vector<std::pair<std::string_view, int32_t>> keys;
  std::unordered_map<std::string_view, int32_t> byte_pieces;
  for (size_t i = 0; i < model.pieces.size(); ++i) {
    const ModelPiece& piece = model.pieces[i];
    scores_.push_back(piece.score);
    types_.push_back(piece.type);
    switch (piece.type) {
      case PieceType::kNormal:
        min_score = std::min(min_score, piece.score);
        max_score_ = std::max(max_score_, piece.score);
        [[fallthrough]];
      case PieceType::kUserDefined:
      case PieceType::kUnused:
        keys.emplace_back(piece.piece, static_cast<int32_t>(i));
        break;
      case PieceType::kByte:
        byte_pieces.emplace(piece.piece, static_cast<int32_t>(i));
        break;
      default:
        break;
    }
  }
  unk_score_ = min_score - kUnkPenalty;
  trie_ = PieceTrie(std::move(keys));

  if (byte_fallback_) {
    for (int b = 0; b < 256; ++b) {
      const std::string name = byte_piece_name(static_cast<uint8_t>(b));
      const auto it = byte_pieces.find(name);
      if (it == byte_pieces.end()) {
        throw FormatError(source + ": trainer_spec.byte_fallback is set but the BYTE piece " +
                          name + " is missing (corrupt model file?)");
      }
      byte_ids_[b] = it->second;
    }
  }
}

void UnigramModel::encode(std::string_view normalized, std::vector<Segment>& out) const {
  if (normalized.empty()) return;
  // best[i]: the best path covering normalized[0, i); its last segment starts at `start`.
  struct Best {
    int32_t id = -1;
    float score = 0.0f;
    int32_t start = -1;
  };
  const size_t size = normalized.size();
  std::vector<Best> best(size + 1);
  size_t start = 0;
  while (start < size) {
    const float score_here = best[start].score;
    const size_t char_length = std::min(utf8::char_length(normalized[start]), size - start);
    bool has_single_char_piece = false;
    int32_t node = PieceTrie::kRoot;
    for (size_t end = start + 1; end <= size; ++end) {
      node = trie_.child(node, static_cast<uint8_t>(normalized[end - 1]));
      if (node == PieceTrie::kNone) break;
      const int32_t id = trie_.value(node);
      if (id == PieceTrie::kNone || types_[id] == PieceType::kUnused) continue;
      const size_t length = end - start;
      // sentencepiece computes the candidate in double (the user-defined bonus is a double
      // expression) and stores it as float; doing the same keeps ties and near-ties identical.
      const double piece_score = types_[id] == PieceType::kUserDefined
                                     ? static_cast<double>(length * max_score_) - 0.1
                                     : static_cast<double>(scores_[id]);
      const double candidate = piece_score + score_here;
      Best& target = best[end];
      if (target.start == -1 || candidate > target.score) {
        target = {id, static_cast<float>(candidate), static_cast<int32_t>(start)};
      }
      if (length == char_length) has_single_char_piece = true;
    }
    if (!has_single_char_piece) {
      // No piece covers this character: it can only be unknown.
      const float candidate = unk_score_ + score_here;
      Best& target = best[start + char_length];
      if (target.start == -1 || candidate > target.score) {
        target = {unk_id_, candidate, static_cast<int32_t>(start)};
      }
    }
    start += char_length;
  }

  std::vector<Segment> path;
  for (size_t end = size; end > 0;) {
    const Best& node = best[end];
    path.push_back({node.id, normalized.substr(node.start, end - node.start)});
    end = static_cast<size_t>(node.start);
  }
  std::reverse(path.begin(), path.end());

  bool previous_unknown = false;
  for (const Segment& segment : path) {
    const bool unknown = segment.id == unk_id_;
    if (unknown && byte_fallback_) {
      for (const char byte : segment.text)
        out.push_back({byte_ids_[static_cast<uint8_t>(byte)], {}});
      // The surface of a character rests on its last byte piece, as in sentencepiece.
      out.back().text = segment.text;
    } else if (unknown && previous_unknown) {
      // Unknown segments are adjacent in `normalized`, so the merged view stays contiguous.
      Segment& last = out.back();
      last.text = std::string_view(last.text.data(), last.text.size() + segment.text.size());
    } else {
      out.push_back(segment);
    }
    previous_unknown = unknown;
  }
}

}  // namespace ladder::tokenizer
