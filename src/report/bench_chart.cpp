#include "ladder/report/bench_chart.h"

#include <algorithm>
#include <set>

#include "ladder/error.h"

namespace ladder::report {
namespace {

const nlohmann::json& records_of(const nlohmann::json& doc) {
  static const nlohmann::json none = nlohmann::json::array();
  if (doc.is_object() && doc.contains("records")) return doc["records"];
  return doc.is_array() ? doc : none;
}

// What tells documents apart in a label, e.g. "arch:t5-base b100 cuda".
std::string shape_of(const nlohmann::json& doc, const nlohmann::json& record) {
  const std::string device = doc.is_object() && doc.contains("device") ? doc["device"].get<std::string>()
                                                                       : record.value("device", "");
  if (!doc.is_object() || !doc.contains("model")) return device;
  return doc["model"].get<std::string>() + " b" + std::to_string(doc.value("batch", 0)) + " " + device;
}

}  // namespace

std::vector<BenchPoint> bench_points(const std::vector<nlohmann::json>& documents, const std::vector<std::string>& names) {
  struct Raw {
    BenchPoint point;
    std::string shape;
    std::string options;  // a quantised backbone and the variant ("cached"), as the label shows them
  };
  std::vector<Raw> raw;
  for (size_t i = 0; i < documents.size(); ++i) {
    const nlohmann::json& doc = documents[i];
    const bool single = doc.is_object() && doc.contains("method");
    const nlohmann::json list = single ? nlohmann::json::array({doc}) : records_of(doc);
    const std::string where = i < names.size() ? names[i] : "bench JSON " + std::to_string(i + 1);
    if (list.empty()) throw FormatError(where + ": no bench records (made by ladder bench memory --json)");
    try {
      for (const auto& r : list) {
        Raw one;
        one.point.method = r.at("method").get<std::string>();
        one.point.precision = r.contains("precision") ? r["precision"].get<std::string>() : doc.value("precision", "");
        one.point.peak_mib = static_cast<double>(r.at("peak_bytes").get<int64_t>()) / (1024.0 * 1024.0);
        one.point.step_seconds = r.at("median_step_seconds").get<double>();
        one.shape = single ? r.value("device", "") : shape_of(doc, r);
        const std::string storage = r.value("backbone_dtype", one.point.precision), variant = r.value("variant", "");
        if (storage != one.point.precision) one.options += " " + storage;
        if (!variant.empty()) one.options += ", " + variant;
        raw.push_back(std::move(one));
      }
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(where + ": not a bench record (" + e.what() + ")");
    }
  }
  std::set<std::string> precisions, shapes;
  for (const auto& r : raw) precisions.insert(r.point.precision), shapes.insert(r.shape);
  std::vector<BenchPoint> points;
  for (auto& r : raw) {
    r.point.label = r.point.method;
    if (precisions.size() > 1) r.point.label += " " + r.point.precision;
    r.point.label += r.options;
    if (shapes.size() > 1) r.point.label += " (" + r.shape + ")";
    points.push_back(std::move(r.point));
  }
  return points;
}

SvgCanvas bench_chart(const std::vector<BenchPoint>& points, const std::string& title) {
  double x1 = 1, y1 = 0.01;
  for (const auto& p : points) x1 = std::max(x1, p.peak_mib), y1 = std::max(y1, p.step_seconds);
  const Ticks xt = nice_ticks(0, 1.05 * x1), yt = nice_ticks(0, 1.08 * y1);
  const double font = 12, radius = 6, plot_w = 520, plot_h = 340, top = 50, left = 72;
  const double bottom = top + plot_h, right = left + plot_w;
  std::vector<std::string> precisions;
  for (const auto& p : points)
    if (std::find(precisions.begin(), precisions.end(), p.precision) == precisions.end()) precisions.push_back(p.precision);
  double legend_w = 0;
  for (const auto& p : precisions) legend_w = std::max(legend_w, 20 + text_width(p.empty() ? "?" : p, font));
  const double legend_x = right + 20;
  const double width = std::max(legend_x + legend_w + 12, text_width(title, 15) + 40), height = bottom + 60;
  auto px = [&](double x) { return left + (x - xt.lo()) / (xt.hi() - xt.lo()) * plot_w; };
  auto py = [&](double y) { return bottom - (y - yt.lo()) / (yt.hi() - yt.lo()) * plot_h; };
  // The first precision filled, the others hollow.
  auto marker = [&](const std::string& precision, const std::string& color) {
    const bool first = !precisions.empty() && precision == precisions.front();
    return "stroke=\"" + color + "\" stroke-width=\"2\" fill=\"" + (first ? color : std::string("white")) + "\"";
  };

  SvgCanvas svg(width, height);
  svg.text(width / 2, 24, title, "middle", 15);
  svg.axes({left, top, right, bottom}, xt, yt, "peak memory of a training step (MiB)", "median step time (s)", font);

  std::vector<LabelRequest> requests;
  std::vector<Box> markers;
  for (const auto& p : points) {
    requests.push_back({px(p.peak_mib), py(p.step_seconds), radius, p.label});
    markers.push_back({px(p.peak_mib) - radius - 1, py(p.step_seconds) - radius - 1, px(p.peak_mib) + radius + 1,
                       py(p.step_seconds) + radius + 1});
  }
  const auto placed = place_labels(requests, markers, {left + 2, top + 2, right - 2, bottom - 2}, font);
  for (size_t i = 0; i < points.size(); ++i)
    svg.circle(requests[i].x, requests[i].y, radius, marker(points[i].precision, method_color(points[i].method)),
               points[i].label + ": " + fixed(points[i].peak_mib, 1) + " MiB, " + fixed(points[i].step_seconds, 3) + " s");
  for (size_t i = 0; i < points.size(); ++i)
    svg.label(placed[i], requests[i], font, method_color(points[i].method));
  double legend_y = top + 10;
  for (const auto& p : precisions) {
    svg.circle(legend_x + 6, legend_y, radius, marker(p, "#444"));
    svg.text(legend_x + 18, legend_y + 4, p.empty() ? "?" : p, "start", font);
    legend_y += 20;
  }
  return svg;
}

}  // namespace ladder::report
