#include "ladder/train/progress.h"

#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ladder/error.h"
#include "ladder/io/atomic_file.h"
#include "ladder/runtime/memory.h"

namespace ladder::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buffer[32];
  if (s < 60) std::snprintf(buffer, sizeof buffer, "%llds", static_cast<long long>(s));
  else if (s < 3600) std::snprintf(buffer, sizeof buffer, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>((s % 3600) / 60));
  return buffer;
}

std::string format_progress_line(const ProgressRecord& r) {
  char buffer[256];
  char epoch[48];
  if (r.streamed) std::snprintf(epoch, sizeof epoch, "pass %lld", static_cast<long long>(r.epoch));
  else std::snprintf(epoch, sizeof epoch, "epoch %.2f", r.epoch);
  std::snprintf(buffer, sizeof buffer, "step %lld/%lld | %s | loss %.4f | lr %.1e | %.0f tok/s | eta %s | peak %s",
                static_cast<long long>(r.step), static_cast<long long>(r.total_steps), epoch, r.loss, r.lr, r.tokens_per_second, format_duration(r.eta_seconds).c_str(),
                runtime::format_bytes(r.peak_bytes).c_str());
  std::string line = buffer;
  if (r.cache_hit_rate >= 0) {
    std::snprintf(buffer, sizeof buffer, " | cache %.0f%% hits", 100.0 * r.cache_hit_rate);
    line += buffer;
  }
  return line;
}

nlohmann::json progress_json(const ProgressRecord& r) {
  nlohmann::json j = {{"type", "train"},
          {"step", r.step},
          {"total_steps", r.total_steps},
          {r.streamed ? "pass" : "epoch", r.epoch},
          {"loss", r.loss},
          {"lr", r.lr},
          {"grad_norm", r.grad_norm},
          {"tokens_per_second", r.tokens_per_second},
          {"eta_seconds", r.eta_seconds},
          {"peak_bytes", r.peak_bytes}};
  if (r.cache_hit_rate >= 0) j["cache_hit_rate"] = r.cache_hit_rate;
  return j;
}

int64_t peak_memory_bytes(const torch::Device& device) {
  if (device.is_cuda()) return runtime::cuda_memory_stats(device.has_index() ? device.index() : 0).peak_allocated;
  return runtime::peak_rss_bytes();
}

void append_jsonl(const std::string& path, const nlohmann::json& record) {
  std::ofstream out(path, std::ios::app);
  if (!out) throw Error(path + ": cannot open the log for appending (" + std::strerror(errno) + ")");
  out << record.dump() << "\n";
  out.flush();
  out.close();
  // A full device fails here (at the flush or the close), not at the write.
  if (!out) throw Error(path + ": writing a log record failed (" + std::strerror(errno) + "; is the device full?)");
}

void truncate_jsonl_after(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::ostringstream kept;
  for (std::string line; std::getline(in, line);) {
    // A line cut by a kill is not JSON: drop it with the records past the checkpoint.
    nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded()) continue;
    if (record.contains("step") && record["step"].is_number() && record["step"].get<int64_t>() > step) continue;
    kept << line << "\n";
  }
  in.close();
  write_file_atomically(path, kept.str());
}

}  // namespace ladder::train
