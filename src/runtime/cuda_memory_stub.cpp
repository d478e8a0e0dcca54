// Built against a CPU-only libtorch: CUDA is never available.
#include "ladder/runtime/memory.h"

namespace ladder::runtime {

bool cuda_available() { return false; }
CudaMemoryStats cuda_memory_stats(int) { return {}; }
void cuda_reset_peak(int) {}
void cuda_synchronize(int) {}

}  // namespace ladder::runtime
