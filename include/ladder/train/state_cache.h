#pragma once
// `ladder train --cache-backbone`: the frozen backbone's states (LadderStates) of every
// training example, computed once and read back in later epochs and later runs, so that
// training after the first pass never runs the backbone.
//
// A cache folder holds one subfolder per identity (hash of identity.json: the backbone's
// weights, the method's kept layers, the data settings, the storage dtype), so a sweep over
// learning rates or seeds on the same backbone and data shares one cache, and a different
// backbone never reads another's states. Each example's entry is checked against the
// example's token ids and the payload's checksum before use; a wrong or damaged entry is
// recomputed, never used.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ladder/io/record_store.h"
#include "ladder/methods/method.h"
#include "ladder/train/batching.h"

namespace ladder::train {

struct StateCacheOptions {
  std::string dir;            // the cache folder; each identity gets its own subfolder
  std::string dtype = "bf16";  // storage: bf16 | fp32 | int8 (per-row absmax scales)
  int64_t memory_bytes = int64_t{1} << 30;  // payloads also held in memory up to this many bytes

  void validate() const;  // UsageError for an unknown dtype or a negative limit
};

// The shape of one example's states: `encoder` tensors of [source length, width] and
// `decoder` ones of [target length, width].
struct StateLayout {
  int64_t encoder = 0, decoder = 0, width = 0;
};

class BackboneStateCache {
 public:
  // `identity` says what the states are a function of besides the examples; `examples` are
  // the ones batches index into. Opens (or creates) the identity's subfolder of options.dir.
  BackboneStateCache(const StateCacheOptions& options, const nlohmann::json& identity, StateLayout layout,
                     const std::vector<TokenizedExample>& examples);

  // The batch's states, padded like collate() pads (zeros past each example's length), fp32
  // on `device`; nullopt when any example of the batch has no sound entry.
  std::optional<LadderStates> lookup(const std::vector<std::size_t>& indices, const torch::Device& device);
  // Stores the examples of a batch that have no entry yet (states as backbone_states gives them).
  void store(const std::vector<std::size_t>& indices, const LadderStates& states);

  // Examples with an entry (on disk or in memory).
  int64_t cached_examples() const;
  bool complete() const { return cached_examples() == static_cast<int64_t>(examples_.size()); }
  int64_t memory_bytes() const { return memory_used_; }
  const std::string& folder() const { return folder_; }
  // One line for the log: where, how many entries, how big, read-only or not, damage found.
  std::string describe() const;

 private:
  int64_t payload_bytes(std::size_t example) const;
  uint64_t tag_of(std::size_t example) const;
  bool read_entry(std::size_t example, std::vector<uint8_t>& payload);

  StateCacheOptions options_;
  StateLayout layout_;
  const std::vector<TokenizedExample>& examples_;
  std::vector<uint64_t> tags_;
  std::string folder_;
  std::unique_ptr<io::RecordStore> store_;
  std::unordered_map<std::size_t, std::vector<uint8_t>> memory_;
  int64_t memory_used_ = 0;
  int64_t rebuilt_ = 0;  // entries found wrong or damaged since opening
};

// A checksum of a module's tensors: names, shapes, dtypes and every value.
std::string weights_checksum(const torch::nn::Module& module);

}  // namespace ladder::train
