#include "ladder/train/checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/io/atomic_file.h"
#include "ladder/models/tensor_io.h"

namespace ladder::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStateFile = "training_state.json";
constexpr const char* kOptimizerFile = "optimizer.safetensors";

// Makes the renames in `dir` durable (best effort: not every file system supports it).
void sync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

nlohmann::json TrainingState::to_json() const {
  nlohmann::json json = {{"global_step", global_step},   {"schedule_step", global_step},
                         {"total_steps", total_steps},   {"epoch", epoch},
                         {"batch_in_epoch", batch_in_epoch}, {"examples_seen", examples_seen},
                         {"seed", seed},                 {"data_seed", data_seed},
                         {"dropout_seed", "mix_seed(seed, global_step) at the start of every update"},
                         {"side_init_done", side_init_done},
                         {"best_step", best_step},       {"finished", finished},
                         {"evaluations", evaluations},   {"interval_loss_sum", interval_loss_sum},
                         {"interval_updates", interval_updates}, {"interval_tokens", interval_tokens},
                         {"first_loss", first_loss}};
  // JSON has no infinity: no best score yet is null.
  json["best_score"] = best_step >= 0 ? nlohmann::json(best_score) : nlohmann::json();
  return json;
}

TrainingState TrainingState::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) throw FormatError(source + ": expected a JSON object");
  TrainingState s;
  s.global_step = json_field<int64_t>(json, "global_step", source);
  s.total_steps = json_field<int64_t>(json, "total_steps", source);
  s.epoch = json_field<int64_t>(json, "epoch", source);
  s.batch_in_epoch = json_field<int64_t>(json, "batch_in_epoch", source);
  s.examples_seen = json_field<int64_t>(json, "examples_seen", source);
  s.seed = json_field<uint64_t>(json, "seed", source);
  s.data_seed = json_field<uint64_t>(json, "data_seed", source);
  s.side_init_done = json_field<std::string>(json, "side_init_done", source);
  s.best_step = json_field<int64_t>(json, "best_step", source);
  s.finished = json_field<bool>(json, "finished", source);
  if (s.best_step >= 0) s.best_score = json_field<double>(json, "best_score", source);
  // Checkpoints written before these fields existed lack them (their evaluations are in
  // metrics.json; the logging interval restarts).
  if (json.contains("evaluations")) {
    s.evaluations = json["evaluations"];
    if (!s.evaluations.is_array()) throw FormatError(source + ": \"evaluations\" must be an array");
    for (const auto& e : s.evaluations)
      if (!e.is_object() || !e.contains("step") || !e["step"].is_number_integer() || !e.contains("metrics"))
        throw FormatError(source + ": an evaluation record without an integer \"step\" and \"metrics\"");
  } else {
    s.evaluations = nlohmann::json();  // null: not recorded here
  }
  if (json.contains("interval_updates")) {
    s.interval_loss_sum = json_field<double>(json, "interval_loss_sum", source);
    s.interval_updates = json_field<int64_t>(json, "interval_updates", source);
    s.interval_tokens = json_field<int64_t>(json, "interval_tokens", source);
  }
  if (json.contains("first_loss")) s.first_loss = json_field<double>(json, "first_loss", source);
  if (s.global_step < 0 || s.epoch < 0 || s.batch_in_epoch < 0 || s.global_step > s.total_steps ||
      s.examples_seen < 0 || s.best_step > s.global_step || s.interval_updates < 0 || s.interval_tokens < 0 ||
      !std::isfinite(s.interval_loss_sum) || !std::isfinite(s.first_loss) || s.epoch > s.global_step + 1)
    throw FormatError(source + ": inconsistent counters (step " + std::to_string(s.global_step) + " of " +
                      std::to_string(s.total_steps) + ", epoch " + std::to_string(s.epoch) + ")");
  return s;
}

std::string staging_directory(const std::string& target) {
  fs::path staged = fs::path(target).string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(staged);  // left over from a crash of an earlier process with this pid
  fs::create_directories(staged);
  return staged.string();
}

void replace_directory(const std::string& staged, const std::string& target) {
  const fs::path old = target + ".old";
  fs::remove_all(old);
  if (fs::exists(target)) fs::rename(target, old);
  fs::rename(staged, target);
  sync_directory(fs::path(target).parent_path());
  fs::remove_all(old);
}

void save_checkpoint(const std::string& dir, FineTuningMethod& method, const TrainingState& state,
                     const AdamW* optimizer) {
  const std::string staged = staging_directory(dir);
  try {
    save_method(method, staged);
    nlohmann::json json = state.to_json();
    if (optimizer != nullptr) {
      auto tensors = optimizer->state_tensors();
      json["optimizer"] = {{"type", "adamw"}, {"steps", optimizer->step_counts()}};
      if (!tensors.empty()) {
        json["optimizer"]["file"] = kOptimizerFile;
        write_safetensors((fs::path(staged) / kOptimizerFile).string(), tensors, {{"format", "pt"}});
      }
    }
    write_json_atomically((fs::path(staged) / kStateFile).string(), json);
    replace_directory(staged, dir);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staged, ignored);
    throw;
  }
}

std::string checkpoint_path(const std::string& dir) {
  if (fs::exists(fs::path(dir) / kStateFile)) return dir;
  // A crash between the two renames of replace_directory leaves only the previous copy.
  const std::string old = dir + ".old";
  if (fs::exists(fs::path(old) / kStateFile)) return old;
  throw LoadError(dir + ": no checkpoint here (expected " + kStateFile + " written by ladder train)");
}

TrainingState load_training_state(const std::string& dir) {
  const std::string path = (fs::path(checkpoint_path(dir)) / kStateFile).string();
  return TrainingState::from_json(read_json_file(path), path);
}

void load_optimizer(const std::string& dir, AdamW& optimizer) {
  const fs::path base = checkpoint_path(dir);
  const std::string state_path = (base / kStateFile).string();
  const nlohmann::json json = read_json_file(state_path);
  if (!json.contains("optimizer"))
    throw LoadError(state_path + ": no optimizer state (best/ checkpoints hold none; resume from last/)");
  const auto steps = json_field<std::map<std::string, int64_t>>(json["optimizer"], "steps", state_path);
  std::map<std::string, torch::Tensor> tensors;
  if (json["optimizer"].contains("file")) tensors = read_safetensors((base / kOptimizerFile).string());
  optimizer.load_state(tensors, steps, (base / kOptimizerFile).string());
}

}  // namespace ladder::train
