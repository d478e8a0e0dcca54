#pragma once
// Peak memory against step time of `ladder bench memory --json` records, one point per record:
// the trade-off between the methods (and their options) at a glance. Torch-free: it reads the
// JSON that BenchRecord::to_json writes, not the struct.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ladder/report/svg_canvas.h"

namespace ladder::report {

struct BenchPoint {
  std::string method, precision, label;
  double peak_mib = 0, step_seconds = 0;
};

// `documents`: what `bench memory --json` writes ({"model", "batch", ..., "records": [...]}), a bare
// array of records, or one record (a `bench step` line). Labels are the method, plus the
// precision when the points mix precisions, plus the model, batch and device when the documents
// differ in them. A missing field is a FormatError naming `names[i]` (the file) when given.
std::vector<BenchPoint> bench_points(const std::vector<nlohmann::json>& documents,
                                     const std::vector<std::string>& names = {});

// Both axes start at zero, so distances read as ratios.
SvgCanvas bench_chart(const std::vector<BenchPoint>& points, const std::string& title);

}  // namespace ladder::report
