#include "piece_trie.h"

#include <algorithm>
#include <deque>

namespace ladder::tokenizer {

PieceTrie::PieceTrie() : nodes_(1) {}

PieceTrie::PieceTrie(std::vector<std::pair<std::string_view, int32_t>> keys) : nodes_(1) {
  // string_view compares bytes as unsigned char, so equal prefixes form contiguous ranges
  // and children come out in ascending byte order.
  std::sort(keys.begin(), keys.end());

  // Breadth-first over ranges of keys sharing a prefix of length `depth`: a node's children
  // are all created together, which keeps its edges contiguous.
  struct Pending {
    int32_t node;
    size_t begin, end, depth;
  };
  std::deque<Pending> queue{{kRoot, 0, keys.size(), 0}};
  while (!queue.empty()) {
    const Pending item = queue.front();
    queue.pop_front();
    size_t begin = item.begin;
    if (begin < item.end && keys[begin].first.size() == item.depth) {
      nodes_[item.node].value = keys[begin].second;
      ++begin;
    }
    nodes_[item.node].first_edge = static_cast<uint32_t>(edge_labels_.size());
    while (begin < item.end) {
      const auto byte = static_cast<uint8_t>(keys[begin].first[item.depth]);
      size_t end = begin + 1;
      while (end < item.end && static_cast<uint8_t>(keys[end].first[item.depth]) == byte) ++end;
      const auto child_index = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      edge_labels_.push_back(byte);
      edge_targets_.push_back(child_index);
      ++nodes_[item.node].edge_count;
      queue.push_back({child_index, begin, end, item.depth + 1});
      begin = end;
    }
  }
}

int32_t PieceTrie::child(int32_t node, uint8_t byte) const {
  const Node& n = nodes_[node];
  const uint8_t* first = edge_labels_.data() + n.first_edge;
  const uint8_t* last = first + n.edge_count;
  const uint8_t* it = std::lower_bound(first, last, byte);
  if (it == last || *it != byte) return kNone;
  return edge_targets_[n.first_edge + (it - first)];
}

size_t PieceTrie::longest_prefix(std::string_view text) const {
  size_t longest = 0;
  int32_t node = kRoot;
  for (size_t i = 0; i < text.size(); ++i) {
    node = child(node, static_cast<uint8_t>(text[i]));
    if (node == kNone) break;
    if (value(node) != kNone) longest = i + 1;
  }
  return longest;
}

}  // namespace ladder::tokenizer
