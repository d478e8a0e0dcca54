// The torch tests' main: the same BLAS kernels as the `ladder` processes the CLI tests start
// (ladder::runtime::restart_with_faster_blas_if_needed), so in-process and child results agree.
#include <gtest/gtest.h>

#include "ladder/runtime/blas_kernels.h"

int main(int argc, char** argv) {
  ladder::runtime::restart_with_faster_blas_if_needed(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
