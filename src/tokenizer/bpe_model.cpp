#include "bpe_model.h"

#include <queue>

#include "ladder/error.h"
#include "piece_decoder.h"
#include "utf8.h"

namespace ladder::tokenizer {

BpeModel::BpeModel(const SentencePieceModel& model, int32_t unk_id, const std::string& source)
    : unk_id_(unk_id), byte_fallback_(model.trainer.byte_fallback) {
  // sentencepiece merges into an UNUSED piece and then splits it again by its merge history;
  // that path is not implemented, so a model that has one is refused rather than mis-encoded.
  for (size_t i = 0; i < model.pieces.size(); ++i)
    if (model.pieces[i].type == PieceType::kUnused)
      throw FormatError(source + ": piece " + std::to_string(i) + " \"" + model.pieces[i].piece +
                        "\" is UNUSED; BPE models with UNUSED pieces are not supported");
  piece_storage_.reserve(model.pieces.size());
  std::vector<std::pair<std::string_view, int32_t>> user_defined;
  std::unordered_map<std::string, int32_t> byte_pieces;
  for (size_t i = 0; i < model.pieces.size(); ++i) {
    const ModelPiece& piece = model.pieces[i];
    piece_storage_.push_back(piece.piece);
    scores_.push_back(piece.score);
    types_.push_back(piece.type);
  }
  for (size_t i = 0; i < model.pieces.size(); ++i) {
    const std::string_view name = piece_storage_[i];
    switch (types_[i]) {
      case PieceType::kUserDefined:
        user_defined.emplace_back(name, static_cast<int32_t>(i));
        [[fallthrough]];
      case PieceType::kNormal:
        pieces_.emplace(name, static_cast<int32_t>(i));
        break;
      case PieceType::kByte:
        byte_pieces.emplace(std::string(name), static_cast<int32_t>(i));
        break;
      default:
        break;
    }
  }
  user_defined_ = PieceTrie(std::move(user_defined));
  if (byte_fallback_) {
    for (int b = 0; b < 256; ++b) {
      const std::string name = byte_piece_name(static_cast<uint8_t>(b));
      const auto it = byte_pieces.find(name);
      if (it == byte_pieces.end())
        throw FormatError(source + ": trainer_spec.byte_fallback is set but the BYTE piece " + name +
                          " is missing (corrupt model file?)");
      byte_ids_[b] = it->second;
    }
  }
}

void BpeModel::encode(std::string_view normalized, std::vector<Segment>& out) const {
  if (normalized.empty()) return;
  // Symbols form a linked list over the text; a merged symbol grows, its right neighbour empties.
  struct Symbol {
    int32_t prev, next;
    bool frozen;  // a user-defined piece: never merged
    std::string_view text;
  };
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < normalized.size();) {
    const std::string_view rest = normalized.substr(pos);
    size_t length = user_defined_.empty() ? 0 : user_defined_.longest_prefix(rest);
    const bool frozen = length > 0;
    if (!frozen) length = std::min(utf8::char_length(rest[0]), rest.size());
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, index + 1, frozen, rest.substr(0, length)});
    pos += length;
  }
  symbols.back().next = -1;

  struct Pair {
    float score;
    int32_t left, right;
    size_t size;  // the merged length when queued: a stale pair no longer has it
  };
  // Highest score first; on a tie, the leftmost pair.
  auto lower = [](const Pair& a, const Pair& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
  std::priority_queue<Pair, std::vector<Pair>, decltype(lower)> agenda(lower);
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen) return;
    const std::string_view merged(symbols[left].text.data(), symbols[left].text.size() + symbols[right].text.size());
    const auto it = pieces_.find(merged);
    if (it == pieces_.end()) return;
    agenda.push({scores_[it->second], left, right, merged.size()});
  };
  for (size_t i = 1; i < symbols.size(); ++i) consider(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.text.empty() || right.text.empty() || left.text.size() + right.text.size() != top.size) continue;
    left.text = std::string_view(left.text.data(), top.size);
    right.text = {};
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    consider(left.prev, top.left);
    consider(top.left, left.next);
  }

  bool previous_unknown = false;
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view text = symbols[i].text;
    const auto it = pieces_.find(text);
    if (it != pieces_.end()) {
      out.push_back({it->second, text});
      previous_unknown = false;
    } else if (byte_fallback_) {
      for (size_t b = 0; b < text.size(); ++b)
        out.push_back({byte_ids_[static_cast<uint8_t>(text[b])], text.substr(b, 1)});
    } else if (previous_unknown) {
      // Unknown symbols in a row are one unknown segment.
      Segment& last = out.back();
      last.text = std::string_view(last.text.data(), last.text.size() + text.size());
    } else {
      out.push_back({unk_id_, text});
      previous_unknown = true;
    }
  }
}

}  // namespace ladder::tokenizer
