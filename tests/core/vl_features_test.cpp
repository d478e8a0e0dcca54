// Image features: the authors' .h5 layout and safetensors read alike; errors name file and id;
// grid pooling as torch.nn.AdaptiveMaxPool2d. Fixtures: tests/reference/make_vl_fixtures.py.
#include <gtest/gtest.h>

#include "expect_error.h"

#include <cmath>
#include <string>
#include <vector>

#include "ladder/data/vl/features.h"
#include "ladder/error.h"

namespace {

using ladder::data::FeatureMatrix;
using ladder::data::open_feature_source;
using ladder::data::pool_grid;

const std::string kH5 = std::string(LADDER_TEST_DATA) + "/vl/features_h5";
const std::string kSafetensors = std::string(LADDER_TEST_DATA) + "/vl/features.safetensors";

using ladder::test::contains;
using ladder::test::error_of;

// The fixture grid7: cell (y, x) of the 7 x 7 grid holds {y*7+x, -(y*7+x)}.
FeatureMatrix grid7() {
  FeatureMatrix m{49, 2, {}};
  for (int r = 0; r < 49; ++r) m.values.insert(m.values.end(), {float(r), -float(r)});
  return m;
}

TEST(VlFeatures, Hdf5ReadsTheAuthorsLayout) {
  const auto source = open_feature_source(kH5);
  EXPECT_EQ(source->path(), kH5);
  const FeatureMatrix m = source->read("grid7");
  EXPECT_EQ(m.rows, 49);
  EXPECT_EQ(m.cols, 2);
  EXPECT_EQ(m.values, grid7().values);
  EXPECT_TRUE(source->contains("grid7"));
  EXPECT_FALSE(source->contains("nope"));
  EXPECT_FALSE(source->contains("wrong_name"));  // file exists, dataset does not
  EXPECT_FALSE(source->contains("../features_h5/grid7"));
}

TEST(VlFeatures, Hdf5ConvertsFloat16AndFloat64) {
  const auto source = open_feature_source(kH5);
  const FeatureMatrix half = source->read("half");
  EXPECT_EQ(half.rows, 4);
  EXPECT_EQ(half.cols, 3);
  // float16(0.1) is 0.0999755859375; 65504 is float16's largest finite value.
  const std::vector<float> expected = {0.5f, -1.25f, 2.0f, 1024.0f, 0.0f, -0.0f, 3.5f, 0.0999755859375f, 65504.0f,
                                       -2.0f, 1.0f, 0.25f};
  EXPECT_EQ(half.values, expected);
  EXPECT_TRUE(std::signbit(half.values[5]));
  const FeatureMatrix dbl = source->read("double");
  EXPECT_EQ(dbl.values, (std::vector<float>{1.5f, -2.25f, 1e-3f, 7.0f}));
}

TEST(VlFeatures, SafetensorsReadsEqualHdf5) {
  const auto h5 = open_feature_source(kH5);
  const auto st = open_feature_source(kSafetensors);
  EXPECT_EQ(st->path(), kSafetensors);
  for (const char* id : {"grid7", "spike", "half"}) {
    SCOPED_TRACE(id);
    const FeatureMatrix a = h5->read(id), b = st->read(id);
    EXPECT_EQ(a.rows, b.rows);
    EXPECT_EQ(a.cols, b.cols);
    EXPECT_EQ(a.values, b.values);
    EXPECT_TRUE(st->contains(id));
  }
  const FeatureMatrix bf16 = st->read("bf16");
  EXPECT_EQ(bf16.values, (std::vector<float>{1.0f, -3.0f, 0.15625f, 256.0f}));
  EXPECT_FALSE(st->contains("nope"));
}

TEST(VlFeatures, MissingIdsNameFileAndId) {
  const auto h5 = open_feature_source(kH5);
  std::string message = error_of<ladder::LoadError>([&] { h5->read("nope"); });
  EXPECT_TRUE(contains(message, "no features for image \"nope\"")) << message;
  EXPECT_TRUE(contains(message, kH5 + "/nope.h5 not found")) << message;
  message = error_of<ladder::LoadError>([&] { h5->read("wrong_name"); });
  EXPECT_TRUE(contains(message, "wrong_name.h5") && contains(message, "wrong_name/features")) << message;
  EXPECT_THROW(h5->read("../features_h5/grid7"), ladder::LoadError);
  EXPECT_THROW(h5->read(""), ladder::LoadError);

  const auto st = open_feature_source(kSafetensors);
  message = error_of<ladder::LoadError>([&] { st->read("nope"); });
  EXPECT_TRUE(contains(message, "\"nope\"") && contains(message, kSafetensors)) << message;
}

TEST(VlFeatures, WrongShapesAndTypesAreFormatErrors) {
  const auto h5 = open_feature_source(kH5);
  std::string message = error_of<ladder::FormatError>([&] { h5->read("rank3"); });
  EXPECT_TRUE(contains(message, "rank3.h5") && contains(message, "rank3/features") && contains(message, "rank 3")) << message;
  message = error_of<ladder::FormatError>([&] { h5->read("empty"); });
  EXPECT_TRUE(contains(message, "empty.h5") && contains(message, "[0, 4]")) << message;
  message = error_of<ladder::FormatError>([&] { h5->read("text"); });
  EXPECT_TRUE(contains(message, "text.h5") && contains(message, "floating-point")) << message;

  const auto st = open_feature_source(kSafetensors);
  message = error_of<ladder::FormatError>([&] { st->read("rank3"); });
  EXPECT_TRUE(contains(message, "\"rank3\"") && contains(message, "rank 3")) << message;
  message = error_of<ladder::FormatError>([&] { st->read("ints"); });
  EXPECT_TRUE(contains(message, "\"ints\"") && contains(message, "I32")) << message;
}

TEST(VlFeatures, OpenRejectsOtherPaths) {
  EXPECT_TRUE(contains(error_of<ladder::LoadError>([] { open_feature_source(kH5 + "/absent"); }), "not found"));
  EXPECT_TRUE(contains(error_of<ladder::LoadError>([] { open_feature_source(kH5 + "/grid7.h5"); }),
                       "neither a directory"));
}

TEST(VlFeatures, PoolGrid49To36AsAdaptiveMaxPool2d) {
  // s = 7, side 6: window k covers [floor(7k/6), ceil(7(k+1)/6)) = [0,2) [1,3) [2,4) [3,5) [4,6) [5,7),
  // so output (i, j) is the max over cells {i, i+1} x {j, j+1}: column 0 (increasing in y and x)
  // gives (i+1)*7 + (j+1), column 1 (its negation) gives -(i*7 + j).
  const FeatureMatrix pooled = pool_grid(grid7(), 6);
  ASSERT_EQ(pooled.rows, 36);
  ASSERT_EQ(pooled.cols, 2);
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) {
      EXPECT_EQ(pooled.values[(i * 6 + j) * 2 + 0], float((i + 1) * 7 + (j + 1))) << i << "," << j;
      EXPECT_EQ(pooled.values[(i * 6 + j) * 2 + 1], -float(i * 7 + j)) << i << "," << j;
    }
  }
  // A single 1 at cell (3, 3) lands in windows i, j in {2, 3} (the ones covering index 3).
  const FeatureMatrix spike = pool_grid(open_feature_source(kH5)->read("spike"), 6);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j)
      EXPECT_EQ(spike.values[i * 6 + j], (i == 2 || i == 3) && (j == 2 || j == 3) ? 1.0f : 0.0f) << i << "," << j;
}

TEST(VlFeatures, PoolGridEdges) {
  EXPECT_EQ(pool_grid(grid7(), 7).values, grid7().values);  // side == s: identity
  const FeatureMatrix global = pool_grid(grid7(), 1);
  EXPECT_EQ(global.values, (std::vector<float>{48.0f, 0.0f}));
  // side 2 over 7: windows [0,4) and [3,7) overlap in the middle row/column.
  const FeatureMatrix two = pool_grid(grid7(), 2);
  EXPECT_EQ(two.values, (std::vector<float>{24, 0, 27, -3, 45, -21, 48, -24}));
  FeatureMatrix not_square{48, 1, std::vector<float>(48, 0.0f)};
  EXPECT_TRUE(contains(error_of<ladder::FormatError>([&] { pool_grid(not_square, 6); }), "48 rows"));
  // Two NLVR2 images stacked (98 rows) are not one grid: the caller pools each image.
  FeatureMatrix two_images{98, 1, std::vector<float>(98, 0.0f)};
  EXPECT_THROW(pool_grid(two_images, 6), ladder::FormatError);
  EXPECT_THROW(pool_grid(grid7(), 0), ladder::FormatError);
}

}  // namespace
