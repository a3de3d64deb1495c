// Splits one line of RFC 4180 CSV (as in the MovieLens files): fields
// separated by ',', a field may be quoted with '"' and then contain commas
// and doubled quotes (""); a quote inside an unquoted field is plain text. Quoted fields spanning lines are not supported
// (MovieLens has none); such a line is reported malformed.
#ifndef DIPS_TOOLS_CSV_H_
#define DIPS_TOOLS_CSV_H_

#include <string>
#include <string_view>
#include <vector>

namespace dips {

// Fills *fields (cleared first). Returns false for a malformed line: an
// unterminated quote or text between a closing quote and the next comma. A
// trailing '\r' (CRLF files) is ignored.
bool SplitCsvLine(std::string_view line, std::vector<std::string>* fields);

}  // namespace dips

#endif  // DIPS_TOOLS_CSV_H_
