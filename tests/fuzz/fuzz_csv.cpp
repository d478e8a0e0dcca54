// libFuzzer target: RFC 4180 CSV. In memory: read_csv_rows (table.h); by path (a scratch .csv
// file): the custom-data loader.
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "fuzz_custom.h"
#include "ladder/data/table.h"

namespace data = ladder::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> header;
  ladder_fuzz::guarded([&] {
    const std::vector<data::TextRow> rows = data::read_csv_rows(text, "fuzz.csv");
    std::size_t previous = 0, checksum = 0;
    for (const data::TextRow& row : rows) {
      if (row.line <= previous || row.line > size + 1) ladder_fuzz::fail("CSV line numbers out of order");
      previous = row.line;
      if (row.fields.empty() || (row.fields.size() == 1 && row.fields[0].empty())) {
        ladder_fuzz::fail("read_csv_rows kept a blank record");
      }
      for (const std::string& field : row.fields) checksum += field.size();
      if (checksum > size) ladder_fuzz::fail("CSV fields hold more bytes than the input");
    }
    ladder_fuzz::consume(checksum);
    if (!rows.empty()) header = rows[0].fields;
  });
  ladder_fuzz::load_custom("data.csv", data, size, header);
  return 0;
}
