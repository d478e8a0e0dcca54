#include "ladder/runtime/blas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <initializer_list>

namespace ladder::runtime {

namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool one_of(const std::string& name, std::initializer_list<const char*> names) {
  const std::string lower = lowercase(name);
  for (const char* candidate : names)
    if (lower == candidate) return true;
  return false;
}

}  // namespace

CpuVectorUnits detect_cpu_vector_units() {
  CpuVectorUnits units;
#if defined(__x86_64__) && defined(__GNUC__)
  // libgcc's checks include the OS's XSAVE support for the AVX and AVX-512 registers.
  __builtin_cpu_init();
  units.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  units.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
  return units;
}

std::string blas_core_name() {
  using CoreNameFunction = char* (*)();
  auto core_name = reinterpret_cast<CoreNameFunction>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (core_name == nullptr) return "";
  const char* name = core_name();
  return name == nullptr ? "" : name;
}

std::optional<std::string> faster_blas_core(const std::string& current, const CpuVectorUnits& cpu) {
  if (current.empty()) return std::nullopt;
  // OpenBLAS's x86-64 kernels by the widest vector units they use.
  const bool uses_avx512 = one_of(current, {"skylakex", "cooperlake", "sapphirerapids"});
  const bool uses_avx2 = uses_avx512 || one_of(current, {"haswell", "zen"});
  if (cpu.avx512 && !uses_avx512) return std::string("SkylakeX");
  if (cpu.avx2_fma && !uses_avx2) return std::string("Haswell");
  return std::nullopt;
}

void restart_with_faster_blas_if_needed(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const auto core = faster_blas_core(blas_core_name(), detect_cpu_vector_units());
  if (!core) return;
  if (setenv("OPENBLAS_CORETYPE", core->c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: the restart failed; run on the detected kernels, and say nothing more.
}

std::string blas_description() {
  const std::string core = blas_core_name();
  if (core.empty()) return "BLAS: not OpenBLAS";
  std::string text = "BLAS: OpenBLAS, " + core + " kernels";
  if (const char* chosen = std::getenv("OPENBLAS_CORETYPE")) text += std::string(" (OPENBLAS_CORETYPE=") + chosen + ")";
  return text;
}

}  // namespace ladder::runtime
