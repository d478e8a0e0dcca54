#pragma once
// The merge loop of BPE encoders: repeatedly replace the adjacent pair of ids with the highest
// priority by its merged id, leftmost first on ties, until no pair merges. llama2.c ranks a
// pair by its merged piece's score, Hugging Face by its merge's rank; both choose exactly as a
// full rescan after every merge would, but a queue of candidate pairs makes it O(n log n).
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace ladder::tokenizer {

struct PairMerge {
  double priority;  // higher merges first
  int64_t merged_id;
};

// `lookup(left_id, right_id)` gives the pair's merge, or nothing when the pair does not merge.
template <typename Lookup>
void merge_pairs(std::vector<int64_t>& ids, const Lookup& lookup) {
  const auto n = static_cast<int64_t>(ids.size());
  std::vector<int64_t> next(ids.size()), prev(ids.size());
  std::vector<uint32_t> version(ids.size(), 0);  // bumped whenever a position's id changes or goes
  for (int64_t i = 0; i < n; ++i) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
  struct Candidate {
    PairMerge merge;
    int64_t left, right;
    uint32_t left_version, right_version;
  };
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.merge.priority < b.merge.priority || (a.merge.priority == b.merge.priority && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  auto consider = [&](int64_t left, int64_t right) {
    if (left < 0 || right < 0) return;
    if (const std::optional<PairMerge> merge = lookup(ids[left], ids[right]))
      queue.push({*merge, left, right, version[left], version[right]});
  };
  for (int64_t i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    if (version[c.left] != c.left_version || version[c.right] != c.right_version || next[c.left] != c.right) continue;
    ids[c.left] = c.merge.merged_id;
    ++version[c.left];
    ++version[c.right];
    next[c.left] = next[c.right];
    if (next[c.left] >= 0) prev[next[c.left]] = c.left;
    consider(prev[c.left], c.left);
    consider(c.left, next[c.left]);
  }
  std::vector<int64_t> merged;
  for (int64_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) merged.push_back(ids[i]);
  ids = std::move(merged);
}

}  // namespace ladder::tokenizer
