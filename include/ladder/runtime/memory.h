#pragma once
// Memory measurements: peak RSS on the CPU, the caching allocator's peaks on CUDA.
#include <cstdint>
#include <string>

namespace ladder::runtime {

// Resident set size now and the process's peak (VmHWM), in bytes; 0 when unknown.
int64_t current_rss_bytes();
// glibc keeps freed heap memory and, after large frees, raises the size from which it maps
// blocks separately, so a process's RSS stays near its largest transient use. This fixes
// that threshold at 256 KiB (freed tensors go back to the kernel at once): lower RSS, at some
// speed (measured: LST on t5-small, CPU, peak 414 -> 341 MiB, step 1.45 -> 1.72-1.94 s).
void return_freed_memory_to_the_system();
int64_t peak_rss_bytes();
// Resets the kernel's peak RSS counter (Linux: writes 5 to /proc/self/clear_refs); returns
// false when the kernel does not allow it.
bool reset_peak_rss();

// CUDA (implemented in cuda_memory.cpp against a CUDA libtorch, stubbed otherwise).
bool cuda_available();
struct CudaMemoryStats {
  int64_t peak_allocated = 0, peak_reserved = 0, allocated = 0;
};
CudaMemoryStats cuda_memory_stats(int device = 0);
void cuda_reset_peak(int device = 0);
void cuda_synchronize(int device = 0);

std::string format_bytes(int64_t bytes);

}  // namespace ladder::runtime
