#pragma once
// An append-only file of keyed binary records, each carrying its own header and checksums, so
// that a store cut short by a crash, or damaged on disk, loses only the damaged records and
// is never read wrong. Records are read back one by one with pread (nothing is mapped or
// copied whole into memory). The backbone-state cache keeps its states in one.
//
// Record layout (little-endian): magic "LDRC", version, key, tag, payload size, payload
// checksum, header checksum, then the payload. A later record with the same key replaces an
// earlier one (an entry rebuilt after damage).
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace ladder::io {

// A fast 64-bit hash of bytes (word at a time; not cryptographic): checksums and identities.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);

class RecordStore {
 public:
  struct Entry {
    uint64_t tag = 0;  // what the record was made from (the caller checks it still fits)
    uint64_t offset = 0, size = 0, checksum = 0;
  };

  // Opens `path`, creating it. Takes an exclusive lock; when another process holds it the
  // store opens read-only (append() then does nothing) and read_only() says so. A tail that
  // is truncated or fails its header checksum is cut off (writable) or ignored (read-only).
  explicit RecordStore(const std::string& path);
  ~RecordStore();
  RecordStore(const RecordStore&) = delete;
  RecordStore& operator=(const RecordStore&) = delete;

  const Entry* find(uint64_t key) const;
  // Reads a record's payload into `out` (entry.size bytes). False when the bytes no longer
  // match their checksum: the entry is forgotten, so the caller rebuilds it.
  bool read(uint64_t key, void* out);
  // Appends a record (flushed to the kernel at once). Throws Error when the write fails.
  void append(uint64_t key, uint64_t tag, const void* data, size_t size);

  size_t entries() const { return index_.size(); }
  uint64_t file_bytes() const { return end_; }
  bool read_only() const { return read_only_; }
  // Bytes cut off or ignored at the tail when the store was opened (0 for a sound file).
  uint64_t damaged_tail_bytes() const { return damaged_tail_; }
  const std::string& path() const { return path_; }

 private:
  void scan();
  std::string path_;
  int fd_ = -1;
  bool read_only_ = false;
  uint64_t end_ = 0, damaged_tail_ = 0;
  std::unordered_map<uint64_t, Entry> index_;
};

}  // namespace ladder::io
