#include "ladder/io/record_store.h"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ladder/error.h"

namespace ladder::io {
namespace {

constexpr uint32_t kMagic = 0x4352444c;  // "LDRC"
constexpr uint32_t kVersion = 1;

struct Header {
  uint32_t magic, version;
  uint64_t key, tag, size, checksum, header_checksum;
};
static_assert(sizeof(Header) == 48, "the on-disk header is 48 bytes");

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t fmix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

uint64_t header_checksum(const Header& h) {
  return hash_bytes(&h, offsetof(Header, header_checksum), 0x9e3779b97f4a7c15ULL);
}

std::string system_error(const std::string& what) { return what + " (" + std::strerror(errno) + ")"; }

bool read_exactly(int fd, void* out, size_t size, uint64_t offset) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  constexpr uint64_t k1 = 0x87c37b91114253d5ULL, k2 = 0x4cf5ad432745937fULL;
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = seed ^ (size * k1);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    w *= k1;
    w = rotl(w, 31);
    w *= k2;
    h ^= w;
    h = rotl(h, 27) * 5 + 0x52dce729;
  }
  uint64_t tail = 0;
  for (size_t j = 0; i + j < size; ++j) tail |= static_cast<uint64_t>(p[i + j]) << (8 * j);
  h ^= rotl(tail * k1, 31) * k2;
  return fmix(h);
}

RecordStore::RecordStore(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(system_error(path + ": cannot open the record store"));
    read_only_ = true;
  }
  if (!read_only_ && ::flock(fd_, LOCK_EX | LOCK_NB) != 0) read_only_ = true;
  scan();
}

RecordStore::~RecordStore() {
  if (fd_ >= 0) ::close(fd_);  // also releases the lock
}

void RecordStore::scan() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw Error(system_error(path_ + ": cannot stat the record store"));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0;
  while (offset + sizeof(Header) <= file_size) {
    Header h{};
    if (!read_exactly(fd_, &h, sizeof h, offset)) break;
    if (h.magic != kMagic || h.version != kVersion || h.header_checksum != header_checksum(h)) break;
    const uint64_t payload = offset + sizeof(Header);
    if (h.size > file_size - payload) break;  // written partly: a crash mid-record
    index_[h.key] = Entry{h.tag, payload, h.size, h.checksum};
    offset = payload + h.size;
  }
  end_ = offset;
  damaged_tail_ = file_size - offset;
  // Appending after a damaged tail would hide every later record behind it: cut it off.
  if (damaged_tail_ > 0 && !read_only_ && ::ftruncate(fd_, static_cast<off_t>(end_)) != 0)
    throw Error(system_error(path_ + ": cannot cut off a damaged tail"));
}

const RecordStore::Entry* RecordStore::find(uint64_t key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &it->second;
}

bool RecordStore::read(uint64_t key, void* out) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  const Entry& e = it->second;
  if (!read_exactly(fd_, out, e.size, e.offset) || hash_bytes(out, e.size) != e.checksum) {
    index_.erase(it);
    return false;
  }
  return true;
}

void RecordStore::append(uint64_t key, uint64_t tag, const void* data, size_t size) {
  if (read_only_) return;
  Header h{kMagic, kVersion, key, tag, size, hash_bytes(data, size), 0};
  h.header_checksum = header_checksum(h);
  // One buffer, one write: a record is either whole on disk or cut off at the tail.
  std::vector<char> record(sizeof h + size);
  std::memcpy(record.data(), &h, sizeof h);
  if (size > 0) std::memcpy(record.data() + sizeof h, data, size);
  size_t done = 0;
  while (done < record.size()) {
    const ssize_t n = ::pwrite(fd_, record.data() + done, record.size() - done, static_cast<off_t>(end_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Leave the file as it was: a short record would be cut off at the next open anyway.
      const int ignored = ::ftruncate(fd_, static_cast<off_t>(end_));
      (void)ignored;
      throw Error(system_error(path_ + ": writing a record failed (is the device full?)"));
    }
    done += static_cast<size_t>(n);
  }
  index_[key] = Entry{tag, end_ + sizeof h, size, h.checksum};
  end_ += record.size();
}

}  // namespace ladder::io
