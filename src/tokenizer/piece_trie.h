#pragma once
// A read-only byte trie over piece strings, walked one byte at a time so that one pass from
// a start position finds every piece that begins there (what the Viterbi lattice needs).
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace ladder::tokenizer {

class PieceTrie {
 public:
  static constexpr int32_t kRoot = 0;
  static constexpr int32_t kNone = -1;

  PieceTrie();

  // Builds from (key, value) pairs; keys must be non-empty and distinct, values >= 0. The
  // trie keeps no reference to the keys.
  explicit PieceTrie(std::vector<std::pair<std::string_view, int32_t>> keys);

  // The node reached from `node` by `byte`, or kNone.
  int32_t child(int32_t node, uint8_t byte) const;

  // The value of the key ending at `node`, or kNone.
  int32_t value(int32_t node) const { return nodes_[node].value; }

  // Length of the longest key that is a prefix of `text` (0 when none is).
  size_t longest_prefix(std::string_view text) const;

  bool empty() const { return nodes_.size() == 1 && nodes_[0].edge_count == 0; }

 private:
  struct Node {
    int32_t value = kNone;
    uint32_t first_edge = 0;  // children are edges [first_edge, first_edge + edge_count)
    uint32_t edge_count = 0;
  };
  std::vector<Node> nodes_;
  std::vector<uint8_t> edge_labels_;  // sorted within each node, for binary search
  std::vector<int32_t> edge_targets_;
};

}  // namespace ladder::tokenizer
