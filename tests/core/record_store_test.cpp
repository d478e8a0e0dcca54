// The record store under the backbone cache: records survive reopening, a crash's cut-off
// tail and damaged bytes are detected (never returned), a second opener is read-only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ladder/io/record_store.h"

namespace ladder::io {
namespace {
namespace fs = std::filesystem;

class RecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ladder-records-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (fs::path(dir_) / "states.bin").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<char> bytes(const std::string& text) { return {text.begin(), text.end()}; }
  std::string read(RecordStore& store, uint64_t key) {
    const RecordStore::Entry* e = store.find(key);
    if (!e) return "<none>";
    std::string out(e->size, '\0');
    return store.read(key, out.data()) ? out : "<damaged>";
  }
  void poke(uint64_t offset, char value) {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(value);
  }

  std::string dir_, path_;
};

TEST_F(RecordStoreTest, RecordsSurviveReopeningAndALaterRecordReplacesAnEarlier) {
  {
    RecordStore store(path_);
    EXPECT_FALSE(store.read_only());
    store.append(3, 30, "three", 5);
    store.append(9, 90, "nine!", 5);
    store.append(3, 31, "THREE", 5);
    store.append(4, 40, "", 0);
    EXPECT_EQ(store.entries(), 3u);
  }
  RecordStore store(path_);
  EXPECT_EQ(store.damaged_tail_bytes(), 0u);
  EXPECT_EQ(store.entries(), 3u);
  EXPECT_EQ(read(store, 3), "THREE");
  EXPECT_EQ(store.find(3)->tag, 31u);
  EXPECT_EQ(read(store, 9), "nine!");
  EXPECT_EQ(read(store, 4), "");
  EXPECT_EQ(read(store, 5), "<none>");
}

TEST_F(RecordStoreTest, ATailCutByACrashIsDroppedAndTheStoreGoesOn) {
  uint64_t whole = 0;
  {
    RecordStore store(path_);
    store.append(1, 0, "first record", 12);
    whole = store.file_bytes();
    store.append(2, 0, "second record", 13);
  }
  fs::resize_file(path_, whole + 20);  // the second record's header and payload cut short
  {
    RecordStore store(path_);
    EXPECT_EQ(store.damaged_tail_bytes(), 20u);
    EXPECT_EQ(store.entries(), 1u);
    EXPECT_EQ(read(store, 1), "first record");
    EXPECT_EQ(read(store, 2), "<none>");
    store.append(2, 0, "rebuilt", 7);
  }
  RecordStore store(path_);
  EXPECT_EQ(store.damaged_tail_bytes(), 0u);
  EXPECT_EQ(read(store, 2), "rebuilt");
}

TEST_F(RecordStoreTest, DamagedPayloadIsNeverReturnedAndDamagedHeaderEndsTheScan) {
  uint64_t second = 0;
  {
    RecordStore store(path_);
    store.append(1, 0, "payload one", 11);
    second = store.file_bytes();
    store.append(2, 0, "payload two", 11);
    store.append(3, 0, "payload three", 13);
  }
  poke(48 + 2, 'X');  // inside record 1's payload (48-byte header)
  {
    RecordStore store(path_);
    EXPECT_EQ(store.entries(), 3u);
    EXPECT_EQ(read(store, 1), "<damaged>");
    EXPECT_EQ(store.find(1), nullptr) << "a damaged entry is forgotten, so that it is rebuilt";
    EXPECT_EQ(read(store, 2), "payload two");
  }
  poke(second + 12, 'Y');  // record 2's header (its key)
  RecordStore store(path_);
  EXPECT_EQ(store.entries(), 1u) << "records after a bad header cannot be located";
  EXPECT_GT(store.damaged_tail_bytes(), 0u);
  EXPECT_EQ(read(store, 3), "<none>");
}

TEST_F(RecordStoreTest, ASecondOpenerIsReadOnly) {
  RecordStore writer(path_);
  writer.append(1, 0, "mine", 4);
  RecordStore reader(path_);
  EXPECT_TRUE(reader.read_only());
  EXPECT_EQ(read(reader, 1), "mine");
  reader.append(2, 0, "theirs", 6);  // not kept: the writer owns the file
  EXPECT_EQ(reader.find(2), nullptr);
  writer.append(3, 0, "more", 4);
  EXPECT_EQ(read(writer, 3), "more");
}

TEST(HashBytes, DependsOnEveryByteTheLengthAndTheSeed) {
  const std::string a = "the quick brown fox jumps", b = "the quick brown fox jumpt";
  EXPECT_EQ(hash_bytes(a.data(), a.size()), hash_bytes(a.data(), a.size()));
  EXPECT_NE(hash_bytes(a.data(), a.size()), hash_bytes(b.data(), b.size()));
  EXPECT_NE(hash_bytes(a.data(), a.size()), hash_bytes(a.data(), a.size() - 1));
  EXPECT_NE(hash_bytes(a.data(), a.size(), 1), hash_bytes(a.data(), a.size(), 2));
  const char zeros[16] = {};
  EXPECT_NE(hash_bytes(zeros, 8), hash_bytes(zeros, 16));
}

}  // namespace
}  // namespace ladder::io
