// The only file that includes CUDA headers; compiled against a CUDA-enabled libtorch.
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <torch/cuda.h>

#include "ladder/runtime/memory.h"

namespace ladder::runtime {

bool cuda_available() { return torch::cuda::is_available(); }

CudaMemoryStats cuda_memory_stats(int device) {
  using c10::cuda::CUDACachingAllocator::getDeviceStats;
  auto stats = getDeviceStats(device);
  // Index 0 is StatType::AGGREGATE; the enum's namespace moved between PyTorch 2.x releases.
  const size_t aggregate = 0;
  CudaMemoryStats out;
  out.peak_allocated = stats.allocated_bytes[aggregate].peak;
  out.peak_reserved = stats.reserved_bytes[aggregate].peak;
  out.allocated = stats.allocated_bytes[aggregate].current;
  return out;
}

void cuda_reset_peak(int device) { c10::cuda::CUDACachingAllocator::resetPeakStats(device); }
void cuda_synchronize(int device) { c10::cuda::device_synchronize(); (void)device; }

}  // namespace ladder::runtime
