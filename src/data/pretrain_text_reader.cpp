#include "ladder/pretrain/text_reader.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include <lzma.h>

#include "ladder/error.h"

namespace ladder::pretrain {
namespace {

constexpr std::size_t kChunk = 1 << 16;
constexpr unsigned char kXzMagic[6] = {0xFD, '7', 'z', 'X', 'Z', 0x00};

std::string lzma_problem(lzma_ret code) {
  switch (code) {
    case LZMA_MEM_ERROR: return "out of memory while decoding";
    case LZMA_MEMLIMIT_ERROR: return "the memory limit was reached while decoding";
    case LZMA_FORMAT_ERROR: return "not an xz stream";
    case LZMA_OPTIONS_ERROR: return "unsupported xz options";
    case LZMA_DATA_ERROR: return "corrupt xz data";
    case LZMA_BUF_ERROR: return "truncated xz data (the file ends mid-stream)";
    default: return "liblzma error " + std::to_string(static_cast<int>(code));
  }
}

// Start of a UTF-8 character (not a continuation byte 10xxxxxx).
bool is_char_start(unsigned char byte) { return (byte & 0xC0) != 0x80; }

}  // namespace

bool is_xz_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  unsigned char head[6] = {};
  const std::size_t n = std::fread(head, 1, sizeof head, file);
  std::fclose(file);
  return n == sizeof head && std::memcmp(head, kXzMagic, sizeof head) == 0;
}

struct TextReader::Impl {
  std::string path;
  std::FILE* file = nullptr;
  bool xz = false;
  bool decoder_ready = false;
  lzma_stream stream = LZMA_STREAM_INIT;
  std::vector<uint8_t> input = std::vector<uint8_t>(kChunk);
  bool input_eof = false;  // the compressed (or plain) file is fully read
  bool text_eof = false;   // no more decoded text will come
  std::string pending;     // decoded text not yet returned, from `start`
  std::size_t start = 0;
  uint64_t consumed = 0;   // decoded bytes returned so far (offset of pending[start])

  ~Impl() { close(); }

  void close() {
    if (decoder_ready) lzma_end(&stream);
    decoder_ready = false;
    stream = LZMA_STREAM_INIT;
    if (file != nullptr) std::fclose(file);
    file = nullptr;
  }

  void open() {
    close();
    xz = is_xz_file(path);
    file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) throw FormatError(path + ": cannot open the corpus file (missing or unreadable)");
    // A name that promises xz with other contents is a broken download, not plain text.
    if (!xz && path.size() > 3 && path.compare(path.size() - 3, 3, ".xz") == 0)
      throw FormatError(path + ": named .xz but not an xz stream (no xz signature at the start)");
    if (xz) {
      // LZMA_CONCATENATED: `xz` output of several streams (cat a.xz b.xz) decodes as one text.
      const lzma_ret ret = lzma_stream_decoder(&stream, UINT64_MAX, LZMA_CONCATENATED);
      if (ret != LZMA_OK) throw FormatError(path + ": cannot start the xz decoder (" + lzma_problem(ret) + ")");
      decoder_ready = true;
    }
    input_eof = text_eof = false;
    pending.clear();
    start = 0;
    consumed = 0;
  }

  // Appends up to kChunk more decoded bytes to `pending`; sets text_eof at the end.
  void refill() {
    if (start > 0) {
      pending.erase(0, start);
      start = 0;
    }
    if (!xz) {
      const std::size_t old = pending.size();
      pending.resize(old + kChunk);
      const std::size_t n = std::fread(&pending[old], 1, kChunk, file);
      pending.resize(old + n);
      if (n == 0) {
        if (std::ferror(file)) throw FormatError(path + ": read error");
        text_eof = true;
      }
      return;
    }
    std::vector<uint8_t> out(kChunk);
    stream.next_out = out.data();
    stream.avail_out = out.size();
    while (stream.avail_out == out.size() && !text_eof) {
      if (stream.avail_in == 0 && !input_eof) {
        stream.next_in = input.data();
        stream.avail_in = std::fread(input.data(), 1, input.size(), file);
        if (stream.avail_in == 0) {
          if (std::ferror(file)) throw FormatError(path + ": read error");
          input_eof = true;
        }
      }
      const lzma_ret ret = lzma_code(&stream, input_eof ? LZMA_FINISH : LZMA_RUN);
      if (ret == LZMA_STREAM_END) text_eof = true;
      else if (ret != LZMA_OK) throw FormatError(path + ": " + lzma_problem(ret));
    }
    pending.append(reinterpret_cast<const char*>(out.data()), out.size() - stream.avail_out);
  }
};

TextReader::TextReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->open();
}

TextReader::~TextReader() = default;
TextReader::TextReader(TextReader&&) noexcept = default;
TextReader& TextReader::operator=(TextReader&&) noexcept = default;

bool TextReader::read_line(std::string& line, std::size_t max_bytes) {
  if (max_bytes < 4) throw UsageError("TextReader::read_line: max_bytes must be at least 4 (one UTF-8 character)");
  Impl& d = *impl_;
  std::size_t searched = d.start;
  while (true) {
    const std::size_t newline = d.pending.find('\n', searched);
    const std::size_t available = d.pending.size() - d.start;
    if (newline != std::string::npos && newline - d.start <= max_bytes) {
      std::size_t end = newline;
      if (end > d.start && d.pending[end - 1] == '\r') --end;
      line.assign(d.pending, d.start, end - d.start);
      d.consumed += newline + 1 - d.start;
      d.start = newline + 1;
      return true;
    }
    if (available > max_bytes) {
      // An overlong line: hand out max_bytes (back to a character boundary) and go on.
      std::size_t cut = max_bytes;
      while (cut > 0 && !is_char_start(static_cast<unsigned char>(d.pending[d.start + cut]))) --cut;
      if (cut == 0) cut = max_bytes;  // not UTF-8 at all: cut anywhere
      line.assign(d.pending, d.start, cut);
      d.consumed += cut;
      d.start += cut;
      return true;
    }
    if (d.text_eof) {
      if (available == 0) return false;
      line.assign(d.pending, d.start, available);
      d.consumed += available;
      d.start = d.pending.size();
      return true;
    }
    searched = d.pending.size() - d.start;  // relative position to resume the search from
    d.refill();                              // moves the unread text to the front
    searched = d.start + searched;
  }
}

uint64_t TextReader::offset() const { return impl_->consumed; }

void TextReader::seek(uint64_t offset) {
  Impl& d = *impl_;
  if (!d.xz) {
    d.open();
    if (std::fseek(d.file, 0, SEEK_END) != 0) throw FormatError(d.path + ": cannot seek");
    const long size = std::ftell(d.file);
    if (size < 0 || offset > static_cast<uint64_t>(size))
      throw FormatError(d.path + ": " + expected_found("a resume offset within the file", "<= " + std::to_string(size),
                                                       std::to_string(offset), "the corpus file changed since the checkpoint?"));
    if (std::fseek(d.file, static_cast<long>(offset), SEEK_SET) != 0) throw FormatError(d.path + ": cannot seek");
    d.consumed = offset;
    return;
  }
  if (offset < d.consumed) d.open();  // xz cannot go back: decode again from the start
  while (d.consumed < offset) {
    const std::size_t available = d.pending.size() - d.start;
    const uint64_t wanted = offset - d.consumed;
    if (available > 0) {
      const std::size_t skip = static_cast<std::size_t>(std::min<uint64_t>(available, wanted));
      d.start += skip;
      d.consumed += skip;
      continue;
    }
    if (d.text_eof)
      throw FormatError(d.path + ": " + expected_found("a resume offset within the decoded text", "<= " + std::to_string(d.consumed),
                                                       std::to_string(offset), "the corpus file changed since the checkpoint?"));
    d.refill();
  }
}

bool TextReader::compressed() const { return impl_->xz; }
const std::string& TextReader::path() const { return impl_->path; }

}  // namespace ladder::pretrain
