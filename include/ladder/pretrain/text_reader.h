#pragma once
// Line-by-line reading of a text file, plain or xz-compressed (liblzma, detected by the xz
// magic bytes, not the file name), in bounded memory: the file is decoded in 64 KiB pieces,
// so a 40 MB corpus never sits in memory whole.
//
// Positions are offsets in the *decoded* text, so a pretraining run can record where it was
// and continue from there: plain files seek, xz files are decoded again from the start and
// the bytes before the offset are skipped (about 0.3 s per 40 MB; done once per resume).
#include <cstdint>
#include <memory>
#include <string>

namespace ladder::pretrain {

// True when the file starts with the xz magic bytes FD 37 7A 58 5A 00.
bool is_xz_file(const std::string& path);

class TextReader {
 public:
  // Throws FormatError naming the file when it cannot be opened or is not a valid xz stream.
  explicit TextReader(const std::string& path);
  ~TextReader();
  TextReader(TextReader&&) noexcept;
  TextReader& operator=(TextReader&&) noexcept;

  // The next line without its "\n" (and without a "\r" before it); a last line without a
  // newline counts. A line longer than max_bytes comes back in pieces of at most max_bytes,
  // cut at a UTF-8 character boundary, so one huge line cannot exhaust memory. Returns false
  // at the end of the file. Corrupt or truncated xz data is a FormatError naming the file.
  bool read_line(std::string& line, std::size_t max_bytes = 1 << 20);

  // Decoded bytes consumed so far: the offset of what read_line() returns next.
  uint64_t offset() const;
  // Continues from an offset that offset() returned earlier (for this file). An offset past
  // the end is a FormatError (the file changed since the offset was recorded).
  void seek(uint64_t offset);

  bool compressed() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ladder::pretrain
