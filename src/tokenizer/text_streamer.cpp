#include "ladder/tokenizer/text_streamer.h"

#include <algorithm>
#include <utility>

namespace ladder {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD, what a lone byte-fallback byte decodes to

// The longest tail of `text` that is the start of some stop text (a stop may still complete it).
std::size_t stop_prefix_tail(const std::string& text, const std::vector<std::string>& stops) {
  std::size_t longest = 0;
  for (const auto& stop : stops)
    for (std::size_t n = std::min(stop.size() - 1, text.size()); n > longest; --n)
      if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
        longest = n;
        break;
      }
  return longest;
}

}  // namespace

std::size_t settled_utf8_length(const std::string& text) {
  std::size_t end = text.size();
  while (end >= 3 && text.compare(end - 3, 3, kReplacement) == 0) end -= 3;
  // A lead byte among the last three whose sequence runs past the end.
  for (std::size_t back = 1; back <= 3 && back <= end; ++back) {
    const auto byte = static_cast<unsigned char>(text[end - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t need = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    return need > back ? end - back : end;
  }
  return end;
}

TextStreamer::TextStreamer(const TextTokenizer& tokenizer, std::vector<int64_t> context, std::vector<std::string> stops,
                           std::function<void(const std::string&)> write)
    : tokenizer_(tokenizer),
      ids_(std::move(context)),
      context_size_(ids_.size()),
      context_text_(tokenizer.decode_text(ids_)),
      stops_(std::move(stops)),
      write_(std::move(write)) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
}

std::string TextStreamer::continuation() const {
  if (ids_.size() == context_size_) return "";
  const std::string all = tokenizer_.decode_text(ids_);
  // As the one-shot decode: the context's text is taken off when the whole begins with it.
  return all.compare(0, context_text_.size(), context_text_) == 0 ? all.substr(context_text_.size()) : all;
}

void TextStreamer::write_up_to(const std::string& text, std::size_t end) {
  // Text already written cannot be taken back: a decode that rewrote it waits for finish().
  if (end <= written_.size() || text.compare(0, written_.size(), written_) != 0) return;
  write_(text.substr(written_.size(), end - written_.size()));
  written_ = text.substr(0, end);
}

bool TextStreamer::add(int64_t id) {
  if (stopped_) return false;
  ids_.push_back(id);
  const std::string text = continuation();
  std::size_t stop_at = std::string::npos;
  for (const auto& stop : stops_) stop_at = std::min(stop_at, text.find(stop));
  if (stop_at != std::string::npos) {
    write_up_to(text, stop_at);
    stopped_ = true;
    return false;
  }
  const std::size_t settled = settled_utf8_length(text);
  write_up_to(text, settled - stop_prefix_tail(text.substr(0, settled), stops_));
  return true;
}

void TextStreamer::finish() {
  if (stopped_) return;
  const std::string text = continuation();
  std::size_t end = text.size();
  for (const auto& stop : stops_) end = std::min(end, text.find(stop));
  write_up_to(text, end);
}

}  // namespace ladder
