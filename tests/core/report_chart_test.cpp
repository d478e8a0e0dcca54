// Chart layout guarantees: round ticks, no two texts overlapping, no label over a marker,
// everything inside the canvas, for the committed accuracy chart and for bench records.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/report/accuracy_report.h"
#include "ladder/report/bench_chart.h"

namespace {
using namespace ladder::report;

void expect_clean_layout(const SvgCanvas& svg) {
  const auto& texts = svg.text_boxes();
  ASSERT_FALSE(texts.empty());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_TRUE(texts[i].inside(svg.bounds())) << "text " << i << " at x " << texts[i].x0 << ".." << texts[i].x1
                                               << ", y " << texts[i].y0 << ".." << texts[i].y1 << "\n" << svg.str();
    for (size_t j = i + 1; j < texts.size(); ++j)
      EXPECT_FALSE(texts[i].intersects(texts[j])) << "texts " << i << " and " << j << " overlap\n" << svg.str();
    for (const auto& m : svg.marker_boxes()) EXPECT_FALSE(texts[i].intersects(m)) << "text " << i << " covers a marker";
  }
  for (const auto& m : svg.marker_boxes()) EXPECT_TRUE(m.inside(svg.bounds()));
}

bool is_multiple(double v, double step) { return std::abs(v / step - std::round(v / step)) < 1e-9; }

TEST(NiceTicks, RoundStepsThatCoverTheData) {
  const Ticks score = nice_ticks(33.4, 51.5);
  EXPECT_DOUBLE_EQ(score.step, 5);
  EXPECT_EQ(score.values, (std::vector<double>{30, 35, 40, 45, 50, 55}));
  EXPECT_EQ(score.decimals, 0);
  const Ticks memory = nice_ticks(333, 769);
  EXPECT_DOUBLE_EQ(memory.step, 100);
  EXPECT_DOUBLE_EQ(memory.lo(), 300);
  EXPECT_DOUBLE_EQ(memory.hi(), 800);
  const Ticks small = nice_ticks(0.0012, 0.0047);
  EXPECT_NEAR(small.step, 0.001, 1e-15);
  EXPECT_EQ(small.decimals, 3);
  EXPECT_EQ(fixed(small.values[1], small.decimals), "0.002");
  for (double lo : {-7.3, 0.0, 0.4, 12.0, 999.0})
    for (double span : {0.01, 0.7, 3.0, 55.0, 1234.0}) {
      const Ticks t = nice_ticks(lo, lo + span);
      const double eps = 1e-9 * (std::abs(lo) + span);  // "covers" up to rounding
      EXPECT_LE(t.lo(), lo + eps);
      EXPECT_GE(t.hi(), lo + span - eps);
      EXPECT_GE(t.values.size(), 3u);
      EXPECT_LE(t.values.size(), 12u);
      const double mantissa = t.step / std::pow(10.0, std::floor(std::log10(t.step) + 1e-9));
      EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9)
          << t.step;
      for (double v : t.values) EXPECT_TRUE(is_multiple(v, t.step)) << v;
    }
  EXPECT_EQ(nice_ticks(4, 4).values.size() >= 2, true);  // one value still gets an axis
  EXPECT_EQ(fixed(-0.0001, 2), "0.00");
}

TEST(PlaceLabels, CrowdedPointsGetSeparateBoxesInsideTheArea) {
  const Box area{0, 0, 300, 200};
  std::vector<LabelRequest> requests;
  std::vector<Box> markers;
  for (int i = 0; i < 6; ++i) {  // six points within a few pixels of each other
    requests.push_back({150.0 + 3 * i, 100.0 + 2 * i, 6, i % 2 ? "adapter" : "lora"});
    markers.push_back({requests.back().x - 7, requests.back().y - 7, requests.back().x + 7, requests.back().y + 7});
  }
  requests.push_back({295, 5, 6, "a label at the corner"});  // must move inwards
  markers.push_back({288, -2, 302, 12});
  const auto placed = place_labels(requests, markers, area, 12);
  ASSERT_EQ(placed.size(), requests.size());
  for (size_t i = 0; i < placed.size(); ++i) {
    EXPECT_TRUE(placed[i].box.inside(area)) << i;
    EXPECT_GE(placed[i].box.width(), text_width(requests[i].text, 12));
    for (size_t j = i + 1; j < placed.size(); ++j) EXPECT_FALSE(placed[i].box.intersects(placed[j].box)) << i << " " << j;
    for (const auto& m : markers) EXPECT_FALSE(placed[i].box.intersects(m)) << i;
  }
  EXPECT_TRUE(std::any_of(placed.begin(), placed.end(), [](const PlacedLabel& p) { return p.leader; }));
}

TEST(AccuracyChart, CommittedResultsLayOutCleanly) {
  const auto report = ladder::read_json_file(std::string(LADDER_TEST_DATA) + "/../../bench/results/accuracy.json");
  const auto cells = cells_from_json(report);
  ASSERT_FALSE(cells.empty());
  const SvgCanvas svg =
      accuracy_chart(cells, "GLUE test scores against training memory: ladder's pretrained T5-mini vs random weights");
  expect_clean_layout(svg);
  EXPECT_EQ(svg.str(), svg_chart(cells, "GLUE test scores against training memory: ladder's pretrained T5-mini vs "
                                        "random weights"));
  // The JSON round trip keeps what the chart and the table need.
  const auto again = cells_from_json(json_report(cells, {}));
  ASSERT_EQ(again.size(), cells.size());
  EXPECT_EQ(again[3].method, cells[3].method);
  EXPECT_DOUBLE_EQ(again[3].score.mean, cells[3].score.mean);
  EXPECT_EQ(again[3].score.count, cells[3].score.count);
  EXPECT_THROW(cells_from_json(nlohmann::json::object()), ladder::FormatError);
}

nlohmann::json record(const std::string& method, double peak_mib, double seconds, const std::string& precision) {
  return {{"method", method}, {"peak_bytes", static_cast<int64_t>(peak_mib * 1024 * 1024)},
          {"median_step_seconds", seconds}, {"precision", precision}, {"device", "cpu"}};
}

TEST(BenchChart, PointsFromBenchJsonAndACleanLayout) {
  // docs/results.md's t5-small tables: fp32 and bf16 documents as `bench memory --json` writes them.
  nlohmann::json fp32 = {{"model", "arch:t5-small"}, {"batch", 8}, {"device", "cpu"}, {"precision", "fp32"},
                         {"records", {record("full", 1607, 1.793, "fp32"), record("lora", 889.8, 1.356, "fp32"),
                                      record("adapter", 792.9, 1.315, "fp32"), record("bitfit", 749.1, 0.992, "fp32"),
                                      record("prompt", 1106, 1.978, "fp32"), record("lst", 403.0, 0.709, "fp32")}}};
  nlohmann::json bf16 = {{"model", "arch:t5-small"}, {"batch", 8}, {"device", "cpu"}, {"precision", "bf16"},
                         {"records", {record("full", 1607, 1.530, "bf16"), record("lora", 514.0, 0.747, "bf16"),
                                      record("lst", 303.0, 0.551, "bf16")}}};
  const auto points = bench_points({fp32, bf16});
  ASSERT_EQ(points.size(), 9u);
  EXPECT_EQ(points[0].label, "full fp32");
  EXPECT_EQ(points[8].label, "lst bf16");
  EXPECT_NEAR(points[5].peak_mib, 403.0, 1e-5);
  EXPECT_DOUBLE_EQ(points[5].step_seconds, 0.709);
  const SvgCanvas svg = bench_chart(points, "ladder bench memory, arch:t5-small, batch 8 x 128 -> 8, CPU");
  expect_clean_layout(svg);
  EXPECT_NE(svg.str().find("lst bf16: 303.0 MiB, 0.551 s"), std::string::npos);

  // One precision: labels are the bare method; a `bench step` line is one record; another
  // model in a second file names the shape.
  EXPECT_EQ(bench_points({fp32})[5].label, "lst");
  EXPECT_EQ(bench_points({record("lst", 400, 0.7, "fp32")})[0].label, "lst");
  nlohmann::json base = fp32;
  base["model"] = "arch:t5-base";
  EXPECT_EQ(bench_points({fp32, base})[11].label, "lst (arch:t5-base b8 cpu)");
  try {
    bench_points({nlohmann::json{{"records", {{{"method", "lst"}}}}}}, {"x.json"});
    FAIL() << "expected a FormatError";
  } catch (const ladder::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("x.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(bench_points({nlohmann::json::object()}), ladder::FormatError);
}

}  // namespace
