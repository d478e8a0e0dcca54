// The BLAS kernels ladder's programs run on: OpenBLAS's load-time choice corrected when it is
// weaker than the CPU (ladder/runtime/blas_kernels.h).
#include <cstdlib>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "ladder/runtime/blas_kernels.h"
#include "test_util.h"

namespace ladder::runtime {
namespace {

TEST(BlasKernels, TheWidestVectorUnitsTheCpuHasAreAskedFor) {
  const CpuVectorUnits avx512{true, true}, avx2{true, false}, neither{false, false};
  EXPECT_EQ(faster_blas_core("Prescott", avx512), "SkylakeX");
  EXPECT_EQ(faster_blas_core("Haswell", avx512), "SkylakeX");
  EXPECT_EQ(faster_blas_core("Zen", avx512), "SkylakeX");
  EXPECT_EQ(faster_blas_core("Prescott", avx2), "Haswell");
  EXPECT_EQ(faster_blas_core("Sandybridge", avx2), "Haswell");
  EXPECT_EQ(faster_blas_core("Nehalem", avx2), "Haswell");
  // Already as wide as the CPU, or a CPU without the units: left alone.
  for (const char* core : {"SkylakeX", "COOPERLAKE", "SapphireRapids"})
    EXPECT_FALSE(faster_blas_core(core, avx512)) << core;
  EXPECT_FALSE(faster_blas_core("Haswell", avx2));
  EXPECT_FALSE(faster_blas_core("zen", avx2));
  EXPECT_FALSE(faster_blas_core("SkylakeX", avx2));
  EXPECT_FALSE(faster_blas_core("Prescott", neither));
  // Not OpenBLAS.
  EXPECT_FALSE(faster_blas_core("", avx512));
}

// A `ladder` started without OPENBLAS_CORETYPE runs on kernels as wide as this CPU's units,
// and one started with it keeps the user's choice.
TEST(BlasKernels, TheCliRunsOnTheCpusWidestKernelsUnlessTheUserChose) {
  if (blas_core_name().empty()) GTEST_SKIP() << "the BLAS of this build is not OpenBLAS";
  test::TempDir dir;
  auto version = [&](const std::string& environment) {
    const std::string out = dir / "version";
    const std::string command = environment + " " + test::quote(LADDER_CLI) + " --version > " + test::quote(out);
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return test::read_text(out);
  };
  const std::string chosen_by_ladder = version("env -u OPENBLAS_CORETYPE");
  const std::string prefix = "BLAS: OpenBLAS, ";
  const auto at = chosen_by_ladder.find(prefix);
  ASSERT_NE(at, std::string::npos) << chosen_by_ladder;
  const auto start = at + prefix.size();
  const std::string core = chosen_by_ladder.substr(start, chosen_by_ladder.find(' ', start) - start);
  const CpuVectorUnits cpu = detect_cpu_vector_units();
  const std::set<std::string> avx512_cores = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  std::set<std::string> avx2_cores = {"Haswell", "Zen"};
  avx2_cores.insert(avx512_cores.begin(), avx512_cores.end());
  if (cpu.avx512) EXPECT_TRUE(avx512_cores.count(core)) << chosen_by_ladder;
  else if (cpu.avx2_fma) EXPECT_TRUE(avx2_cores.count(core)) << chosen_by_ladder;

  const std::string chosen_by_user = version("env OPENBLAS_CORETYPE=Prescott");
  EXPECT_NE(chosen_by_user.find("Prescott kernels (OPENBLAS_CORETYPE=Prescott)"), std::string::npos) << chosen_by_user;
}

}  // namespace
}  // namespace ladder::runtime
