#pragma once
// libtorch's fp32 matmuls on the CPU run in the system BLAS (Debian: OpenBLAS built for every
// x86 core, which picks its kernels by CPU model at load time). OpenBLAS 0.3.21 does not know
// recent Xeon models and falls back to its SSE3 "Prescott" kernels: on this project's CPU
// (AVX-512) an fp32 matmul then runs at a fifth of its speed (30 against 150 GFLOP/s, one
// thread). The choice can only be made before OpenBLAS loads, through OPENBLAS_CORETYPE, so
// ladder's programs start again once with it set when the detected kernels are weaker than
// the CPU's vector units.
#include <optional>
#include <string>

namespace ladder::runtime {

struct CpuVectorUnits {
  bool avx2_fma = false;  // Haswell-class kernels
  bool avx512 = false;    // F, BW, DQ and VL, enabled by the OS: SkylakeX-class kernels
};
CpuVectorUnits detect_cpu_vector_units();

// OpenBLAS's name for the kernels it chose ("Prescott", "SkylakeX", ...); empty when the BLAS
// in this process is not OpenBLAS.
std::string blas_core_name();

// The kernels to ask OpenBLAS for instead of `current`, or nothing when `current` already uses
// the widest vector units the CPU has (or is unknown to this rule, or the CPU has neither).
std::optional<std::string> faster_blas_core(const std::string& current, const CpuVectorUnits& cpu);

// Called first in main: when OPENBLAS_CORETYPE is unset and faster_blas_core() names a core,
// sets it and replaces the process with a fresh copy of itself (same arguments, same
// standard streams). Returns when nothing needs doing, or when the restart failed (the
// program then runs on the kernels it has). Set OPENBLAS_CORETYPE yourself to choose.
void restart_with_faster_blas_if_needed(char** argv);

// One line for --version and benchmark records: "OpenBLAS, SkylakeX kernels (OPENBLAS_CORETYPE)".
std::string blas_description();

}  // namespace ladder::runtime
