#pragma once
// The layout pieces the report charts share: round axis ticks, an estimate of text extents, label
// placement that avoids collisions, and a canvas that remembers every box it drew, so that tests
// can check that no two texts overlap and that everything lies inside the picture.
#include <string>
#include <vector>

namespace ladder::report {

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // SVG coordinates: y grows downwards
  bool intersects(const Box& other) const;
  bool inside(const Box& outer) const;
  double width() const { return x1 - x0; }
  double height() const { return y1 - y0; }
};

// Width of `text` in a sans-serif font of `font_size` px. Deliberately generous (DejaVu Sans,
// what rsvg and most browsers on Linux fall back to, is wide), so real text fits its box.
double text_width(const std::string& text, double font_size);

// "Nice" ticks: a step of 1, 2 or 5 x 10^k, the first tick <= lo, the last >= hi, about
// `target` intervals; `decimals` is what the step needs to print exactly.
struct Ticks {
  std::vector<double> values;
  double step = 1;
  int decimals = 0;
  double lo() const { return values.front(); }
  double hi() const { return values.back(); }
};
Ticks nice_ticks(double lo, double hi, int target = 5);

std::string fixed(double value, int digits);  // printf %.*f, without a "-0"
// One colour per fine-tuning method, the same in every chart (the paper's methods first).
std::string method_color(const std::string& method);
std::string escape_xml(const std::string& text);

// A point to label: its marker's centre and radius, and the text.
struct LabelRequest {
  double x = 0, y = 0, radius = 0;
  std::string text;
};
struct PlacedLabel {
  Box box;
  double text_x = 0, text_y = 0;  // baseline start of the text (text-anchor start)
  bool leader = false;            // drawn away from its point, joined by a line
  double leader_x = 0, leader_y = 0;
};
// Tries positions around each point (right, left, above, below, the diagonals), then the same
// directions farther out with a leader line; a position is taken when its box lies inside
// `area` and meets no marker (`obstacles`) and no label placed before it, the nearest one whose
// leader crosses no other label or leader first.
std::vector<PlacedLabel> place_labels(const std::vector<LabelRequest>& requests, const std::vector<Box>& obstacles,
                                      const Box& area, double font_size);

// An SVG picture that records the box of every text and marker it holds.
class SvgCanvas {
 public:
  SvgCanvas(double width, double height);
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double stroke_width = 1);
  void rect(const Box& box, const std::string& attributes);
  // A circle marker; `tooltip` becomes its <title>.
  void circle(double cx, double cy, double r, const std::string& attributes, const std::string& tooltip = "");
  // anchor: "start", "middle" or "end"; vertical: rotated by -90 degrees around (x, y).
  void text(double x, double y, const std::string& text, const std::string& anchor, double font_size = 12,
            bool vertical = false, const std::string& fill = "");
  // In the colour of its marker, so that a label moved away still reads as that point's.
  void label(const PlacedLabel& placed, const LabelRequest& request, double font_size, const std::string& color);

  // Grid, tick labels, the two axis lines and their titles of a plot occupying `plot`, with
  // ticks `x` and `y` mapped linearly onto it.
  void axes(const Box& plot, const Ticks& x, const Ticks& y, const std::string& x_title, const std::string& y_title,
            double font_size);

  const std::vector<Box>& text_boxes() const { return texts_; }
  const std::vector<Box>& marker_boxes() const { return markers_; }
  Box bounds() const { return {0, 0, width_, height_}; }
  std::string str() const;

 private:
  double width_, height_;
  std::string body_;
  std::vector<Box> texts_, markers_;
};

}  // namespace ladder::report
