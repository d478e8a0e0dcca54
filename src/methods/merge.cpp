#include "ladder/methods/merge.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "ladder/error.h"
#include "ladder/io/safetensors.h"
#include "ladder/methods/lora.h"
#include "ladder/models/tensor_io.h"

namespace ladder {
namespace fs = std::filesystem;
namespace {

// Weight files of any format: the merged folder holds one model.safetensors instead.
bool is_weight_file(const fs::path& file) {
  const std::string name = file.filename().string();
  auto ends_with = [&](const std::string& tail) {
    return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  for (const char* tail : {".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json", ".pt", ".pth",
                           ".ckpt", ".h5", ".msgpack", ".gguf"})
    if (ends_with(tail)) return true;
  return false;
}

void copy_file_atomically(const fs::path& from, const fs::path& to) {
  const fs::path temporary = to.string() + ".tmp." + std::to_string(getpid());
  fs::copy_file(from, temporary, fs::copy_options::overwrite_existing);
  fs::rename(temporary, to);
}

// The loaded model's tensor for a checkpoint name. Checkpoints may hold copies the model keeps
// once: T5's encoder/decoder embed_tokens (= shared), a tied lm_head (= the embedding).
const torch::Tensor* model_tensor(const std::map<std::string, torch::Tensor>& tensors, const std::string& name) {
  auto found = tensors.find(name);
  if (found != tensors.end()) return &found->second;
  const bool embedding_copy = name == "encoder.embed_tokens.weight" || name == "decoder.embed_tokens.weight";
  if (embedding_copy || name == "lm_head.weight")
    for (const char* table : {"shared.weight", "model.embed_tokens.weight"})
      if ((found = tensors.find(table)) != tensors.end()) return &found->second;
  return nullptr;
}

}  // namespace

void check_merge_folders(const std::string& model_dir, const std::string& out_dir) {
  if (model_dir.rfind("arch:", 0) == 0 || !fs::is_directory(model_dir))
    throw UsageError("merge: " + model_dir + " is not a model folder: merge writes the folder's own checkpoint with the "
                     "method folded in, so it needs the Hugging Face folder the method was trained on");
  std::error_code error;
  if (fs::exists(out_dir) && fs::equivalent(model_dir, out_dir, error))
    throw UsageError("merge: --out " + out_dir + " is the model folder itself: give a new folder");
  if (fs::exists(out_dir) && !(fs::is_directory(out_dir) && fs::is_empty(out_dir)))
    throw UsageError("merge: " + out_dir + " exists and is not an empty folder: give a new one (nothing was written)");
}

std::string why_not_mergeable(const std::string& method_name) {
  if (method_name == "lst") return "LST trains a side network next to the model, not the model's weights";
  if (method_name == "adapter") return "adapters are layers the model does not have";
  if (method_name == "prompt") return "prompt tuning trains input vectors, not the model's weights";
  if (method_name != "lora" && method_name != "full" && method_name != "bitfit")
    return method_name + " is not a method merge knows";
  return "";
}

MergeReport save_merged_model(FineTuningMethod& method, const std::string& model_dir, const std::string& out_dir) {
  if (const std::string why = why_not_mergeable(method.name()); !why.empty())
    throw UsageError("merge: " + why + "; use the folder as it is (--adapter, --run)");
  if (method.visual_config().feature_dim > 0)
    throw UsageError("merge: a vision-language " + method.name() + " run trains a visual embedding that a " +
                     method.backbone_handle().family() + " checkpoint has no place for; use the run as it is (--run)");
  check_merge_folders(model_dir, out_dir);
  if (auto* lora = dynamic_cast<LoraMethod*>(&method); lora != nullptr && !lora->merged()) lora->merge();

  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : method.backbone_handle().module().named_parameters(/*recurse=*/true))
    tensors.emplace(item.key(), item.value());
  for (const auto& item : method.backbone_handle().module().named_buffers(/*recurse=*/true))
    tensors.emplace(item.key(), item.value());

  const safetensors::Checkpoint base = safetensors::Checkpoint::open(model_dir);
  const std::vector<std::string> names = base.names();
  const std::set<std::string> name_set(names.begin(), names.end());
  if (method.name() != "lora")
    for (const auto& [name, value] : method.named_trainable())
      if (!name_set.count(name))
        throw UsageError("merge: the trained tensor " + name + " has no place in " + model_dir +
                         "'s checkpoint; use the folder as it is (--adapter, --run)");

  MergeReport report;
  std::map<std::string, torch::Tensor> merged;
  for (const auto& name : names) {
    const torch::Tensor* value = model_tensor(tensors, name);
    if (value == nullptr)
      throw UsageError("merge: " + base.file_of(name) + " holds " + name +
                       ", which the loaded model does not have (quantised or renamed?)");
    const torch::Tensor original = read_tensor(base.info(name), base.data(name));
    torch::Tensor out = value->detach().to(torch::kCPU, original.scalar_type()).contiguous();
    if (out.sizes() != original.sizes())
      throw UsageError("merge: " + name + " has another shape in " + base.file_of(name) + " than in the loaded model");
    if (!torch::equal(out, original)) ++report.tensors_changed;
    merged.emplace(name, std::move(out));
  }
  report.tensors_written = static_cast<int64_t>(merged.size());

  fs::create_directories(out_dir);
  // The weights first: a reader that finds config.json finds the weights that go with it.
  write_safetensors((fs::path(out_dir) / "model.safetensors").string(), merged, {{"format", "pt"}});
  for (const auto& entry : fs::directory_iterator(model_dir)) {
    if (!entry.is_regular_file() || is_weight_file(entry.path())) continue;
    copy_file_atomically(entry.path(), fs::path(out_dir) / entry.path().filename());
    report.files_copied.push_back(entry.path().filename().string());
  }
  std::sort(report.files_copied.begin(), report.files_copied.end());
  return report;
}

}  // namespace ladder
