#include "ladder/runtime/memory.h"

#include <cstdio>
#include <malloc.h>
#include <fstream>
#include <sstream>

namespace ladder::runtime {
namespace {

int64_t status_field_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream values(line.substr(field.size() + 1));
      int64_t kb = 0;
      values >> kb;
      return kb;
    }
  }
  return 0;
}

}  // namespace

int64_t current_rss_bytes() { return status_field_kb("VmRSS") * 1024; }

void return_freed_memory_to_the_system() {
  constexpr int kThreshold = 256 * 1024;
  mallopt(M_MMAP_THRESHOLD, kThreshold);  // also turns off glibc's dynamic raising of it
  mallopt(M_TRIM_THRESHOLD, kThreshold);
}
int64_t peak_rss_bytes() { return status_field_kb("VmHWM") * 1024; }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  return static_cast<bool>(out);
}

std::string format_bytes(int64_t bytes) {
  char buffer[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buffer, sizeof buffer, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buffer, sizeof buffer, "%.1f MiB", b / (1024.0 * 1024));
  else std::snprintf(buffer, sizeof buffer, "%.1f KiB", b / 1024.0);
  return buffer;
}

}  // namespace ladder::runtime
