#include "ladder/report/svg_canvas.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace ladder::report {
namespace {

// Baseline to top and bottom of a line of text, as fractions of the font size.
constexpr double kAscent = 0.8, kDescent = 0.25;

std::string num(double v) { return fixed(v, 1); }

Box text_box(double x, double y, double width, const std::string& anchor, double size) {
  const double x0 = anchor == "middle" ? x - width / 2 : anchor == "end" ? x - width : x;
  return {x0, y - kAscent * size, x0 + width, y + kDescent * size};
}

}  // namespace

bool Box::intersects(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
bool Box::inside(const Box& o) const { return x0 >= o.x0 && y0 >= o.y0 && x1 <= o.x1 && y1 <= o.y1; }

double text_width(const std::string& text, double font_size) {
  double ems = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte: the code point is counted once
    if (c == ' ' || c == 'i' || c == 'l' || c == 'j' || c == 't' || c == 'f' || c == 'r' || c == '.' || c == ',' ||
        c == '\'' || c == '(' || c == ')' || c == ':' || c == '1')
      ems += 0.4;
    else if (c == 'm' || c == 'w' || c == 'M' || c == 'W')
      ems += 0.95;
    else if (std::isupper(c))
      ems += 0.72;
    else
      ems += 0.63;
  }
  return ems * font_size;
}

Ticks nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {  // one value (or none): a unit around it
    lo -= 0.5;
    hi += 0.5;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  Ticks t;
  t.step = step;
  t.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  // Multiples of the step (not repeated additions), so 0.1 + 0.2 never prints as 0.30000004.
  for (double k = first; k <= last + 0.5; k += 1) t.values.push_back(k * step);
  return t;
}

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  std::string s = buffer;
  const bool negative_zero = s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos;
  return negative_zero ? s.substr(1) : s;
}

std::string method_color(const std::string& method) {
  static const std::vector<std::string> methods = {"full", "adapter", "lora", "bitfit", "prompt", "lst"};
  static const std::vector<std::string> colors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                  "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  const auto it = std::find(methods.begin(), methods.end(), method);
  if (it != methods.end()) return colors[static_cast<size_t>(it - methods.begin())];
  size_t h = 0;
  for (unsigned char c : method) h = h * 31 + c;
  return colors[methods.size() + h % (colors.size() - methods.size())];
}

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

namespace {

struct Segment {
  double ax, ay, bx, by;
};

double cross(double ox, double oy, double ax, double ay, double bx, double by) {
  return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox);
}

bool segments_cross(const Segment& p, const Segment& q) {
  const double d1 = cross(q.ax, q.ay, q.bx, q.by, p.ax, p.ay), d2 = cross(q.ax, q.ay, q.bx, q.by, p.bx, p.by);
  const double d3 = cross(p.ax, p.ay, p.bx, p.by, q.ax, q.ay), d4 = cross(p.ax, p.ay, p.bx, p.by, q.bx, q.by);
  return ((d1 > 0) != (d2 > 0)) && ((d3 > 0) != (d4 > 0));
}

bool segment_meets_box(const Segment& s, const Box& b) {
  const Segment edges[4] = {{b.x0, b.y0, b.x1, b.y0}, {b.x1, b.y0, b.x1, b.y1}, {b.x1, b.y1, b.x0, b.y1}, {b.x0, b.y1, b.x0, b.y0}};
  for (const auto& e : edges)
    if (segments_cross(s, e)) return true;
  return false;
}

}  // namespace

std::vector<PlacedLabel> place_labels(const std::vector<LabelRequest>& requests, const std::vector<Box>& obstacles,
                                      const Box& area, double font_size) {
  // Unit directions: right, left, up, down, then the diagonals.
  const double dirs[8][2] = {{1, 0}, {-1, 0}, {0, -1}, {0, 1}, {1, -1}, {1, 1}, {-1, -1}, {-1, 1}};
  std::vector<PlacedLabel> placed;
  std::vector<Box> taken;
  std::vector<Segment> leaders;
  const double gap = 3, height = (kAscent + kDescent) * font_size;
  for (const auto& r : requests) {
    const double w = text_width(r.text, font_size);
    std::vector<PlacedLabel> fits;
    // Ring 0 touches the marker; later rings move out and need a leader line. The nearest position
    // whose leader crosses no other label or leader wins; failing that, the nearest fit.
    bool clean_found = false;
    for (int ring = 0; ring < 8 && !clean_found; ++ring) {
      const double reach = r.radius + gap + ring * 0.9 * height;
      for (const auto& d : dirs) {
        // The box's near edge or corner sits `reach` from the centre in direction d.
        const double x0 = d[0] > 0 ? r.x + reach : d[0] < 0 ? r.x - reach - w : r.x - w / 2;
        const double y0 = d[1] > 0 ? r.y + reach : d[1] < 0 ? r.y - reach - height : r.y - height / 2;
        const Box box{x0, y0, x0 + w, y0 + height};
        if (!box.inside(area)) continue;
        auto hits = [&](const Box& b) { return b.intersects(box); };
        if (std::any_of(obstacles.begin(), obstacles.end(), hits) || std::any_of(taken.begin(), taken.end(), hits))
          continue;
        PlacedLabel p;
        p.box = box;
        p.text_x = x0;
        p.text_y = y0 + kAscent * font_size;
        p.leader = ring > 0;
        p.leader_x = std::clamp(r.x, box.x0, box.x1);
        p.leader_y = std::clamp(r.y, box.y0, box.y1);
        const Segment own{r.x, r.y, p.leader_x, p.leader_y};
        const bool clean = !p.leader ||
                           (std::none_of(leaders.begin(), leaders.end(), [&](const Segment& l) { return segments_cross(own, l); }) &&
                            std::none_of(taken.begin(), taken.end(), [&](const Box& b) { return segment_meets_box(own, b); }));
        if (clean) {
          fits.insert(fits.begin(), p);
          clean_found = true;
          break;
        }
        fits.push_back(p);
      }
    }
    PlacedLabel best;
    if (!fits.empty()) {
      best = fits.front();
    } else {  // crowded beyond the rings: right of the point, overlapping rather than lost
      best.box = {r.x + r.radius + gap, r.y - height / 2, r.x + r.radius + gap + w, r.y + height / 2};
      best.text_x = best.box.x0;
      best.text_y = best.box.y0 + kAscent * font_size;
    }
    if (best.leader) leaders.push_back({r.x, r.y, best.leader_x, best.leader_y});
    taken.push_back(best.box);
    placed.push_back(best);
  }
  return placed;
}

SvgCanvas::SvgCanvas(double width, double height) : width_(width), height_(height) {}

void SvgCanvas::line(double x1, double y1, double x2, double y2, const std::string& stroke, double stroke_width) {
  body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
           "\" stroke=\"" + stroke + "\" stroke-width=\"" + num(stroke_width) + "\"/>\n";
}

void SvgCanvas::rect(const Box& b, const std::string& attributes) {
  body_ += "<rect x=\"" + num(b.x0) + "\" y=\"" + num(b.y0) + "\" width=\"" + num(b.width()) + "\" height=\"" +
           num(b.height()) + "\" " + attributes + "/>\n";
}

void SvgCanvas::circle(double cx, double cy, double r, const std::string& attributes, const std::string& tooltip) {
  body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" " + attributes;
  body_ += tooltip.empty() ? "/>\n" : "><title>" + escape_xml(tooltip) + "</title></circle>\n";
  markers_.push_back({cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1});  // + the stroke
}

void SvgCanvas::text(double x, double y, const std::string& content, const std::string& anchor, double font_size,
                     bool vertical, const std::string& fill) {
  const double w = text_width(content, font_size);
  body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\"" +
           (font_size != 12 ? " font-size=\"" + num(font_size) + "\"" : std::string()) +
           (vertical ? " transform=\"rotate(-90 " + num(x) + " " + num(y) + ")\"" : std::string()) +
           (fill.empty() ? std::string() : " fill=\"" + fill + "\"") + ">" +
           escape_xml(content) + "</text>\n";
  Box b = text_box(x, y, w, anchor, font_size);
  if (vertical) {  // rotated -90 degrees about (x, y): the box turns with it
    const Box r{x + (b.y0 - y), y - (b.x1 - x), x + (b.y1 - y), y - (b.x0 - x)};
    b = r;
  }
  texts_.push_back(b);
}

void SvgCanvas::label(const PlacedLabel& p, const LabelRequest& r, double font_size, const std::string& color) {
  if (p.leader) {
    // From the marker's edge towards the label's nearest point.
    const double dx = p.leader_x - r.x, dy = p.leader_y - r.y, d = std::hypot(dx, dy);
    if (d > r.radius) line(r.x + dx / d * r.radius, r.y + dy / d * r.radius, p.leader_x, p.leader_y, color, 0.8);
  }
  text(p.text_x, p.text_y, r.text, "start", font_size, false, color);
}

std::string SvgCanvas::str() const {
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width_) << "\" height=\"" << num(height_)
      << "\" viewBox=\"0 0 " << num(width_) << " " << num(height_) << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << body_ << "</svg>\n";
  return out.str();
}

void SvgCanvas::axes(const Box& plot, const Ticks& x, const Ticks& y, const std::string& x_title,
                     const std::string& y_title, double font_size) {
  auto px = [&](double v) { return plot.x0 + (v - x.lo()) / (x.hi() - x.lo()) * plot.width(); };
  auto py = [&](double v) { return plot.y1 - (v - y.lo()) / (y.hi() - y.lo()) * plot.height(); };
  for (double v : x.values) {
    line(px(v), plot.y0, px(v), plot.y1, "#eee");
    text(px(v), plot.y1 + 18, fixed(v, x.decimals), "middle", font_size);
  }
  for (double v : y.values) {
    line(plot.x0, py(v), plot.x1, py(v), "#ddd");
    text(plot.x0 - 6, py(v) + 4, fixed(v, y.decimals), "end", font_size);
  }
  line(plot.x0, plot.y1, plot.x1, plot.y1, "black");
  line(plot.x0, plot.y0, plot.x0, plot.y1, "black");
  text((plot.x0 + plot.x1) / 2, plot.y1 + 42, x_title, "middle", font_size);
  text(20, (plot.y0 + plot.y1) / 2, y_title, "middle", font_size, /*vertical=*/true);
}

}  // namespace ladder::report
