#include "ladder/train/state_cache.h"

#include <cstring>
#include <filesystem>
#include <sstream>

#include "ladder/error.h"
#include "ladder/io/atomic_file.h"
#include "ladder/io/json_file.h"
#include "ladder/runtime/memory.h"

namespace ladder::train {
namespace fs = std::filesystem;
namespace {

constexpr int kCacheFormat = 1;

std::string hex(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

int64_t element_bytes(const std::string& dtype) { return dtype == "fp32" ? 4 : dtype == "bf16" ? 2 : 1; }

// rows [n, width] fp32 -> the storage format, appended to `out`.
void encode_rows(const torch::Tensor& rows, const std::string& dtype, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  if (dtype == "fp32" || dtype == "bf16") {
    torch::Tensor t = rows.to(dtype == "fp32" ? torch::kFloat : torch::kBFloat16).contiguous();
    const size_t n = static_cast<size_t>(t.numel() * t.element_size());
    out.resize(start + n);
    std::memcpy(out.data() + start, t.data_ptr(), n);
    return;
  }
  // int8: one absmax scale per row (a token's state in one layer), codes round(x / scale).
  torch::Tensor scale = rows.abs().amax(-1, /*keepdim=*/true).clamp_min(1e-30) / 127.0;
  torch::Tensor codes = (rows / scale).round().clamp(-127, 127).to(torch::kChar).contiguous();
  scale = scale.reshape({-1}).contiguous();
  const size_t n_codes = static_cast<size_t>(codes.numel()), n_scales = static_cast<size_t>(scale.numel()) * 4;
  out.resize(start + n_codes + n_scales);
  std::memcpy(out.data() + start, codes.data_ptr(), n_codes);
  std::memcpy(out.data() + start + n_codes, scale.data_ptr(), n_scales);
}

// The inverse of encode_rows for [rows, width] values at `data`; returns fp32 [rows, width].
torch::Tensor decode_rows(const uint8_t* data, int64_t rows, int64_t width, const std::string& dtype) {
  auto* p = const_cast<uint8_t*>(data);
  if (dtype == "fp32") return torch::from_blob(p, {rows, width}, torch::kFloat).clone();
  if (dtype == "bf16") return torch::from_blob(p, {rows, width}, torch::kBFloat16).to(torch::kFloat);
  torch::Tensor codes = torch::from_blob(p, {rows, width}, torch::kChar).to(torch::kFloat);
  torch::Tensor scale = torch::from_blob(p + rows * width, {rows, 1}, torch::kFloat);
  return codes * scale;
}

int64_t encoded_bytes(int64_t rows, int64_t width, const std::string& dtype) {
  return rows * width * element_bytes(dtype) + (dtype == "int8" ? rows * 4 : 0);
}

}  // namespace

void StateCacheOptions::validate() const {
  if (dtype != "bf16" && dtype != "fp32" && dtype != "int8")
    throw UsageError(expected_found("backbone cache dtype", "bf16, fp32 or int8", "\"" + dtype + "\""));
  if (memory_bytes < 0) throw UsageError("backbone cache: the memory limit must not be negative");
  if (dir.empty()) throw UsageError("backbone cache: no folder given");
}

BackboneStateCache::BackboneStateCache(const StateCacheOptions& options, const nlohmann::json& identity,
                                       StateLayout layout, const std::vector<TokenizedExample>& examples)
    : options_(options), layout_(layout), examples_(examples) {
  options_.validate();
  nlohmann::json full = identity;
  full["cache_format"] = kCacheFormat;
  full["storage_dtype"] = options_.dtype;
  full["layout"] = {{"encoder", layout.encoder}, {"decoder", layout.decoder}, {"width", layout.width}};
  const std::string text = full.dump(2);
  folder_ = (fs::path(options_.dir) / hex(io::hash_bytes(text.data(), text.size()))).string();
  try {
    fs::create_directories(folder_);
  } catch (const fs::filesystem_error& e) {
    throw UsageError("backbone cache: cannot make the folder " + folder_ + " (" + e.code().message() + ")");
  }
  const fs::path identity_path = fs::path(folder_) / "identity.json";
  const fs::path states_path = fs::path(folder_) / "states.bin";
  bool same = false;
  if (fs::exists(identity_path)) {
    try {
      same = read_json_file(identity_path.string()) == full;
    } catch (const Error&) {
      same = false;
    }
  }
  // States written under another identity (or with none recorded: a crash between the two
  // files) cannot be trusted: start the store again.
  if (!same) {
    fs::remove(states_path);
    write_json_atomically(identity_path.string(), full);
  }
  store_ = std::make_unique<io::RecordStore>(states_path.string());
  tags_.reserve(examples_.size());
  for (const auto& e : examples_) {
    uint64_t h = io::hash_bytes(e.source.data(), e.source.size() * sizeof(int64_t), e.source.size());
    tags_.push_back(io::hash_bytes(e.target.data(), e.target.size() * sizeof(int64_t), h));
  }
  // A store that fills the disk halfway through the first epoch helps nobody: say so now.
  int64_t missing = 0;
  for (std::size_t i = 0; i < examples_.size(); ++i) {
    const io::RecordStore::Entry* e = store_->find(i);
    if (!e || e->tag != tags_[i] || static_cast<int64_t>(e->size) != payload_bytes(i)) missing += payload_bytes(i) + 48;
  }
  const auto space = fs::space(folder_);
  if (!store_->read_only() && static_cast<uintmax_t>(missing) > space.available)
    throw UsageError("backbone cache " + folder_ + ": the states need " + runtime::format_bytes(missing) + " more, the disk has " +
                     runtime::format_bytes(static_cast<int64_t>(space.available)) +
                     " free (try --cache-dtype int8, which needs about half of bf16, or another --cache-backbone DIR)");
}

uint64_t BackboneStateCache::tag_of(std::size_t example) const { return tags_[example]; }

int64_t BackboneStateCache::payload_bytes(std::size_t example) const {
  const auto& e = examples_[example];
  return encoded_bytes(layout_.encoder * static_cast<int64_t>(e.source.size()), layout_.width, options_.dtype) +
         encoded_bytes(layout_.decoder * static_cast<int64_t>(e.target.size()), layout_.width, options_.dtype);
}

int64_t BackboneStateCache::cached_examples() const {
  int64_t n = 0;
  for (std::size_t i = 0; i < examples_.size(); ++i) {
    if (memory_.count(i)) {
      ++n;
      continue;
    }
    const io::RecordStore::Entry* e = store_->find(i);
    if (e && e->tag == tag_of(i) && static_cast<int64_t>(e->size) == payload_bytes(i)) ++n;
  }
  return n;
}

bool BackboneStateCache::read_entry(std::size_t example, std::vector<uint8_t>& payload) {
  if (auto it = memory_.find(example); it != memory_.end()) {
    payload = it->second;
    return true;
  }
  const io::RecordStore::Entry* e = store_->find(example);
  // An entry of another example at this index (the data changed) or of another size.
  if (!e || e->tag != tag_of(example) || static_cast<int64_t>(e->size) != payload_bytes(example)) return false;
  payload.resize(e->size);
  if (!store_->read(example, payload.data())) {
    ++rebuilt_;  // the bytes on disk no longer match their checksum
    return false;
  }
  return true;
}

std::optional<LadderStates> BackboneStateCache::lookup(const std::vector<std::size_t>& indices,
                                                       const torch::Device& device) {
  int64_t source = 0, target = 0;
  for (std::size_t i : indices) {
    source = std::max<int64_t>(source, examples_[i].source.size());
    target = std::max<int64_t>(target, examples_[i].target.size());
  }
  const int64_t batch = static_cast<int64_t>(indices.size()), width = layout_.width;
  torch::Tensor enc = torch::zeros({layout_.encoder, batch, source, width});
  torch::Tensor dec = torch::zeros({layout_.decoder, batch, target, width});
  std::vector<uint8_t> payload;
  for (int64_t b = 0; b < batch; ++b) {
    const std::size_t i = indices[static_cast<std::size_t>(b)];
    if (!read_entry(i, payload)) return std::nullopt;
    const int64_t ls = static_cast<int64_t>(examples_[i].source.size()), lt = static_cast<int64_t>(examples_[i].target.size());
    using torch::indexing::Slice;
    const int64_t enc_rows = layout_.encoder * ls;
    enc.index_put_({Slice(), b, Slice(0, ls)},
                   decode_rows(payload.data(), enc_rows, width, options_.dtype).view({layout_.encoder, ls, width}));
    dec.index_put_({Slice(), b, Slice(0, lt)},
                   decode_rows(payload.data() + encoded_bytes(enc_rows, width, options_.dtype), layout_.decoder * lt,
                               width, options_.dtype)
                       .view({layout_.decoder, lt, width}));
  }
  LadderStates states;
  enc = enc.to(device);
  dec = dec.to(device);
  for (int64_t j = 0; j < layout_.encoder; ++j) states.encoder.push_back(enc[j]);
  for (int64_t j = 0; j < layout_.decoder; ++j) states.decoder.push_back(dec[j]);
  return states;
}

void BackboneStateCache::store(const std::vector<std::size_t>& indices, const LadderStates& states) {
  if (static_cast<int64_t>(states.encoder.size()) != layout_.encoder ||
      static_cast<int64_t>(states.decoder.size()) != layout_.decoder)
    throw Error("backbone cache: the method returned " + std::to_string(states.encoder.size()) + " + " +
                std::to_string(states.decoder.size()) + " states, the cache was opened for " +
                std::to_string(layout_.encoder) + " + " + std::to_string(layout_.decoder));
  torch::NoGradGuard no_grad;
  const torch::Tensor enc = torch::stack(states.encoder).to(torch::kCPU, torch::kFloat);
  const torch::Tensor dec = torch::stack(states.decoder).to(torch::kCPU, torch::kFloat);
  using torch::indexing::Slice;
  std::vector<uint8_t> payload;
  for (std::size_t b = 0; b < indices.size(); ++b) {
    const std::size_t i = indices[b];
    if (memory_.count(i)) continue;
    const io::RecordStore::Entry* e = store_->find(i);
    if (e && e->tag == tag_of(i) && static_cast<int64_t>(e->size) == payload_bytes(i)) continue;
    const int64_t ls = static_cast<int64_t>(examples_[i].source.size()), lt = static_cast<int64_t>(examples_[i].target.size());
    const int64_t bi = static_cast<int64_t>(b);
    payload.clear();
    encode_rows(enc.index({Slice(), bi, Slice(0, ls)}).reshape({-1, layout_.width}), options_.dtype, payload);
    encode_rows(dec.index({Slice(), bi, Slice(0, lt)}).reshape({-1, layout_.width}), options_.dtype, payload);
    store_->append(i, tag_of(i), payload.data(), payload.size());
    if (memory_used_ + static_cast<int64_t>(payload.size()) <= options_.memory_bytes) {
      memory_used_ += static_cast<int64_t>(payload.size());
      memory_.emplace(i, payload);
    }
  }
}

std::string BackboneStateCache::describe() const {
  std::ostringstream out;
  out << "backbone cache " << folder_ << ": " << cached_examples() << "/" << examples_.size() << " examples, "
      << runtime::format_bytes(static_cast<int64_t>(store_->file_bytes())) << " on disk ("
      << options_.dtype << "), " << runtime::format_bytes(memory_used_) << " in memory";
  if (store_->read_only()) out << "; read-only (another run holds it: new states are not kept)";
  if (store_->damaged_tail_bytes() > 0)
    out << "; cut off a damaged tail of " << store_->damaged_tail_bytes() << " bytes";
  if (rebuilt_ > 0) out << "; " << rebuilt_ << " damaged entries recomputed";
  return out.str();
}

std::string weights_checksum(const torch::nn::Module& module) {
  uint64_t h = 0;
  auto mix = [&h](const torch::Tensor& t, const std::string& name) {
    h = io::hash_bytes(name.data(), name.size(), h);
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
    h = io::hash_bytes(shape.data(), shape.size() * sizeof(int64_t), h);
    const int dtype = static_cast<int>(c.scalar_type());
    h = io::hash_bytes(&dtype, sizeof dtype, h);
    h = io::hash_bytes(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size(), h);
  };
  for (const auto& p : module.named_parameters()) mix(p.value(), p.key());
  for (const auto& b : module.named_buffers()) mix(b.value(), b.key());
  return hex(h);
}

}  // namespace ladder::train
